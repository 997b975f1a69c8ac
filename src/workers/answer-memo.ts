/**
 * The answers a chunk has already paid for. A chunk of several items runs its task again when an
 * attempt fails (a retry, or one item at a time after a final failure): every request the earlier
 * attempts got a success for is answered again from here, so the other items cost nothing twice.
 *
 * A request is known by its method, path and body. The k-th request with the same key in one
 * *pass* (an attempt, or the whole one-item-at-a-time split) gets the k-th answer recorded for it,
 * so a task that asks the same thing twice on purpose still gets its two answers. Only successes
 * (2xx) that are not streams are kept: a failure is asked again, a stream is never replayed.
 */

/** One answer, as plain data (it crosses to and from worker threads). */
export interface MemoEntry {
  key: string;
  status: number;
  headers: Array<[string, string]>;
  body: string;
}

/** What a pass used and added, for the memo that lives in the main thread. */
export interface MemoPassReport {
  /** Keys answered from the memo, once per answer. */
  used: string[];
  /** New answers recorded in the pass. */
  added: MemoEntry[];
}

type Fetch = typeof fetch;

export class AnswerMemo {
  readonly #entries = new Map<string, MemoEntry[]>();
  #cursor = new Map<string, number>();
  #report: MemoPassReport = { used: [], added: [] };
  readonly #inFlight = new Set<Promise<unknown>>();

  constructor(entries: readonly MemoEntry[] = []) {
    for (const entry of entries) this.#list(entry.key).push(entry);
  }

  /** Starts a pass: every recorded answer can be given once more. */
  startPass(): void {
    this.#cursor = new Map();
    this.#report = { used: [], added: [] };
  }

  /**
   * Resolves once no request of the chunk is in flight. A failed attempt waits for it before the
   * chunk runs again: a neighbour's request still on the wire when one item failed is recorded,
   * not asked twice.
   */
  async settled(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  /** Tracks a request of the chunk until it settles. */
  track<T>(request: Promise<T>): Promise<T> {
    this.#inFlight.add(request);
    const done = () => this.#inFlight.delete(request);
    request.then(done, done);
    return request;
  }

  /** What this pass used and added since it started (a worker thread's memo sends it back). */
  report(): MemoPassReport {
    return this.#report;
  }

  /** Applies what a pass in another thread did, as if it had run here. */
  apply(report: MemoPassReport): void {
    for (const key of report.used) this.#advance(key);
    for (const entry of report.added) {
      this.#list(entry.key).push(entry);
      this.#advance(entry.key);
    }
  }

  /** The answers this pass has not used yet (for a worker thread's own memo). */
  unused(): MemoEntry[] {
    const out: MemoEntry[] = [];
    for (const [key, list] of this.#entries) out.push(...list.slice(this.#cursor.get(key) ?? 0));
    return out;
  }

  /** The next recorded answer for `key` in this pass, if there is one. */
  take(key: string): MemoEntry | undefined {
    const entry = this.#entries.get(key)?.[this.#cursor.get(key) ?? 0];
    if (entry) {
      this.#advance(key);
      this.#report.used.push(key);
    }
    return entry;
  }

  record(entry: MemoEntry): void {
    this.#list(entry.key).push(entry);
    this.#advance(entry.key);
    this.#report.added.push(entry);
  }

  #list(key: string): MemoEntry[] {
    let list = this.#entries.get(key);
    if (!list) {
      list = [];
      this.#entries.set(key, list);
    }
    return list;
  }

  #advance(key: string): void {
    this.#cursor.set(key, (this.#cursor.get(key) ?? 0) + 1);
  }
}

/** The memo's key of a request, or undefined for one that is never replayed (a body not text). */
function keyOf(input: Parameters<Fetch>[0], init: Parameters<Fetch>[1]): string | undefined {
  const body = init?.body;
  if (body !== undefined && body !== null && typeof body !== 'string') return undefined;
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  return `${init?.method ?? 'GET'} ${url} ${body ?? ''}`;
}

function replay(entry: MemoEntry): Response {
  return new Response(entry.body, { status: entry.status, headers: entry.headers });
}

/** `inner`, with the chunk's paid answers given again from `memo` and new successes recorded in it. */
export function memoFetch(inner: Fetch, memo: AnswerMemo): Fetch {
  return (input, init) => {
    const key = keyOf(input, init);
    if (key === undefined) return inner(input, init);
    const known = memo.take(key);
    if (known) return Promise.resolve(replay(known));
    return memo.track(fetchAndRecord(inner, memo, key, input, init));
  };
}

async function fetchAndRecord(
  inner: Fetch,
  memo: AnswerMemo,
  key: string,
  input: Parameters<Fetch>[0],
  init: Parameters<Fetch>[1],
): Promise<Response> {
  const response = await inner(input, init);
  const type = response.headers.get('content-type') ?? '';
  if (response.status < 200 || response.status >= 300 || type.includes('event-stream')) return response;
  const entry: MemoEntry = {
    key,
    status: response.status,
    headers: [...response.headers],
    body: await response.text(),
  };
  memo.record(entry);
  return replay(entry);
}
