/**
 * The one retry loop: a `fetch` for the openai SDK (which runs with `maxRetries: 0`) that leases a
 * key per attempt, sends the request with that key's credentials and base URL, reports the answer
 * to the pool, and moves to another key or retries with backoff as the answer says.
 */
import { AbortError, KeybatchError, serializeError } from '../errors.js';
import { backoffDelay, RETRY_DEFAULTS, type RetryOptions } from './backoff.js';
import { type ApiErrorBody, classifyStatus, type Outcome } from './classify.js';
import { readRateLimitHeaders } from './headers.js';
import { type Answer, send } from './transport.js';
import type { KeyBroker, Lease, LeaseRequest } from './types.js';

/** The base URL the pool's clients are built with; each attempt swaps in its key's base URL. */
export const POOL_BASE_URL = 'http://keybatch.pool/v1';
/** Header marking a synthetic answer that carries a keybatch error to the client. */
export const ERROR_HEADER = 'x-keybatch-error';
export const DEFAULT_BASE_URL = 'https://api.openai.com/v1';

/** Moves to another key (quota, rate limit, invalid, no access) allowed for one request. */
const MAX_KEY_MOVES = 1000;

export interface AttemptInfo {
  key: string;
  model: string | undefined;
  method: string;
  path: string;
  attempt: number;
  status?: number;
  outcome: Outcome;
  code?: string | undefined;
  latencyMs: number;
  error?: string;
  /** The request body as sent (JSON text), when it was text. */
  request?: string;
  /** The answer's body, when it was read as text (JSON answers and errors; not streams). */
  response?: string;
}

export interface PoolFetchOptions {
  /** The lane this client serves (rotation starts at `key_index + workerId`). @default 0 */
  workerId?: number;
  retry?: RetryOptions;
  /** Time limit of one attempt, in milliseconds. @default 600000 */
  timeoutMs?: number;
  /** For keys without `base_url`. @default OPENAI_BASE_URL, else https://api.openai.com/v1 */
  defaultBaseURL?: string;
  /** Called after every attempt (for audit logs); gets redacted data only. */
  onAttempt?: (info: AttemptInfo) => void;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
}

const sleep = (ms: number, signal: AbortSignal | undefined) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortError());
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/**
 * The signal of one attempt: aborted by the caller's signal or by the attempt's time limit. One
 * controller and one timer, not `AbortSignal.any([signal, AbortSignal.timeout(ms)])`, which costs
 * 20 µs per request and weak references for the garbage collector (bench/overhead.ts).
 */
class AttemptSignal {
  readonly #controller = new AbortController();
  readonly #caller: AbortSignal | undefined;
  readonly #timer: NodeJS.Timeout;
  readonly #onAbort = () => this.#controller.abort(this.#caller?.reason);
  timedOut = false;

  constructor(caller: AbortSignal | undefined, timeoutMs: number) {
    this.#caller = caller;
    caller?.addEventListener('abort', this.#onAbort, { once: true });
    this.#timer = setTimeout(() => {
      this.timedOut = true;
      this.#controller.abort(new DOMException(`timed out after ${timeoutMs} ms`, 'TimeoutError'));
    }, timeoutMs);
    // A streamed answer keeps its timer (the whole stream is bounded); it must not hold the process.
    this.#timer.unref();
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** The attempt is over (its body read): no more time limit, no more listening to the caller. */
  done(): void {
    clearTimeout(this.#timer);
    this.#caller?.removeEventListener('abort', this.#onAbort);
  }
}

/** What the pool needs to know of a request body: the model, a token estimate, whether it asks for a stream. */
export function describeBody(body: unknown): { model?: string; tokens: number; stream?: boolean } {
  if (typeof body !== 'string') return { tokens: 1 };
  try {
    const parsed = JSON.parse(body) as {
      model?: unknown;
      max_tokens?: unknown;
      max_completion_tokens?: unknown;
      stream?: unknown;
    };
    const completion = Number(parsed.max_tokens ?? parsed.max_completion_tokens ?? 0) || 0;
    const tokens = Math.ceil(body.length / 4) + completion;
    const stream = parsed.stream === true;
    return typeof parsed.model === 'string' ? { model: parsed.model, tokens, stream } : { tokens, stream };
  } catch {
    return { tokens: Math.ceil(body.length / 4) };
  }
}

function errorBody(text: string): ApiErrorBody {
  try {
    const parsed = JSON.parse(text) as { error?: ApiErrorBody };
    const error = parsed.error ?? (parsed as ApiErrorBody);
    return { code: typeof error.code === 'string' ? error.code : undefined, type: error.type };
  } catch {
    return {};
  }
}

/** Statuses whose Response may have no body. */
const NULL_BODY = new Set([101, 204, 205, 304]);

type Head = Pick<Response, 'status' | 'statusText' | 'headers' | 'url'>;

/** A Response for the SDK with the status line, headers and URL of `head`, over `body`. */
function responseOf(head: Head, body: string | null): Response {
  const response = new Response(body, {
    status: head.status,
    statusText: head.statusText,
    headers: head.headers,
  });
  return Object.defineProperty(response, 'url', { value: head.url });
}

/** A Response for the SDK from an answer whose body was read as `text`. */
function textResponse(answer: Answer, text: string): Response {
  return responseOf(answer, NULL_BODY.has(answer.status) ? null : text);
}

/**
 * A JSON answer already read (for its usage), handed on without a second parse: the SDK reads it
 * through `json()`/`text()`, which give back what was read.
 */
function jsonResponse(answer: Answer, text: string, json: unknown): Response {
  return Object.defineProperties(responseOf(answer, null), {
    text: { value: async () => text },
    json: { value: async () => json },
    arrayBuffer: { value: async () => new TextEncoder().encode(text).buffer },
  });
}

/** A JSON answer read once: the tokens it used, and the Response to hand to the SDK. */
function readJsonAnswer(answer: Answer, text: string): { response: Response; tokens?: number } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // Not JSON after all: the SDK gets the text as it came and reports it.
    return { response: textResponse(answer, text) };
  }
  const usage = (json as { usage?: { total_tokens?: unknown } } | null)?.usage;
  const response = jsonResponse(answer, text, json);
  return typeof usage?.total_tokens === 'number' ? { response, tokens: usage.total_tokens } : { response };
}

/** A keybatch error handed to the SDK as an answer, so the client can throw it as itself. */
function errorResponse(error: KeybatchError): Response {
  return new Response(JSON.stringify({ error: serializeError(error) }), {
    status: 503,
    headers: { 'content-type': 'application/json', [ERROR_HEADER]: error.code },
  });
}

export function createPoolFetch(broker: KeyBroker, options: PoolFetchOptions = {}): typeof fetch {
  const retry = { ...RETRY_DEFAULTS, ...options.retry };
  // Longer than Node's longest timer is no limit at all.
  const timeoutMs = Math.min(options.timeoutMs ?? 600_000, 2 ** 31 - 1 - 1000);
  const defaultBase = (options.defaultBaseURL ?? process.env['OPENAI_BASE_URL'] ?? DEFAULT_BASE_URL).replace(
    /\/+$/,
    '',
  );
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const workerId = options.workerId ?? 0;

  return async function poolFetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (!url.startsWith(POOL_BASE_URL)) return fetchImpl(input, init);
    const path = url.slice(POOL_BASE_URL.length);
    const method = init.method ?? 'GET';
    const signal = init.signal ?? undefined;
    const { model, tokens, stream } = describeBody(init.body);
    const request: LeaseRequest = { model, tokens, workerId };
    const replayable = !(init.body instanceof ReadableStream);
    // undici's request for whole answers to text bodies; fetch for streams, uploads, or a fetch of the caller's.
    const viaFetch =
      options.fetch !== undefined || stream === true || (init.body != null && typeof init.body !== 'string');
    let attempt = 0;
    let moves = 0;

    for (;;) {
      let lease: Lease;
      try {
        lease = await broker.acquire(request, signal);
      } catch (error) {
        // The caller's own abort goes back as an abort (the SDK makes it APIUserAbortError);
        // anything else of ours (no usable key, pool closed) is handed over to be thrown as itself.
        if (error instanceof KeybatchError && !signal?.aborted) return errorResponse(error);
        throw error;
      }
      attempt += 1;
      // The SDK builds a fresh Headers per request: the key is set on it, not on a copy.
      const headers = init.headers instanceof Headers ? init.headers : new Headers(init.headers);
      headers.set('authorization', `Bearer ${lease.apiKey}`);
      if (lease.organization) headers.set('openai-organization', lease.organization);
      // (`has` first: a delete re-sorts the whole header list on its next read.)
      else if (headers.has('openai-organization')) headers.delete('openai-organization');
      const limit = new AttemptSignal(signal, timeoutMs);
      const started = performance.now();
      const report = (
        info: Omit<AttemptInfo, 'key' | 'model' | 'method' | 'path' | 'attempt' | 'latencyMs'>,
      ) =>
        options.onAttempt?.({
          key: lease.label,
          model,
          method,
          path,
          attempt,
          latencyMs: Math.round(performance.now() - started),
          ...(typeof init.body === 'string' ? { request: init.body } : {}),
          ...info,
        });

      /** The attempt failed without an answer (connection, time limit, body cut off): retry or throw. */
      const failed = async (error: unknown): Promise<void> => {
        limit.done();
        if (signal?.aborted) {
          broker.release(lease, { outcome: 'cancelled' });
          throw error;
        }
        broker.release(lease, { outcome: 'retryable', model });
        const reason = limit.timedOut ? `timed out after ${timeoutMs} ms` : (error as Error).message;
        report({ outcome: 'retryable', error: reason });
        if (attempt >= retry.maxAttempts || !replayable) throw error;
        await sleep(backoffDelay(attempt, retry), signal);
      };

      let answer: Answer;
      try {
        answer = await send(
          {
            url: `${lease.baseURL ?? defaultBase}${path}`,
            init,
            headers,
            signal: limit.signal,
            timeoutMs,
            viaFetch,
          },
          fetchImpl,
        );
      } catch (error) {
        await failed(error);
        continue;
      }

      const { status } = answer;
      const rateLimit = readRateLimitHeaders(answer.headers);
      if (status >= 200 && status < 300) {
        const json = answer.headers.get('content-type')?.includes('application/json') ?? false;
        if (!json) {
          // A stream (or a file): its time limit runs on while the caller reads it.
          broker.release(lease, { outcome: 'ok', status, model, rateLimit });
          report({ outcome: 'ok', status });
          return answer.response(() => limit.done());
        }
        let text: string;
        try {
          text = await answer.text();
        } catch (error) {
          await failed(error);
          continue;
        }
        limit.done();
        const { response, tokens } = readJsonAnswer(answer, text);
        broker.release(lease, { outcome: 'ok', status, model, rateLimit, tokens });
        report({ outcome: 'ok', status, response: text });
        return response;
      }

      // An error body that echoes the key (some proxies do) is redacted before anyone sees it.
      const text = (await answer.text().catch(() => '')).split(lease.apiKey).join(lease.label);
      limit.done();
      const body = errorBody(text);
      const outcome = classifyStatus(status, body);
      broker.release(lease, { outcome, status, code: body.code ?? undefined, model, rateLimit });
      report({ outcome, status, code: body.code ?? undefined, response: text });
      const errorAnswer = () => textResponse(answer, text);
      if (!replayable) return errorAnswer();
      switch (outcome) {
        case 'quota':
        case 'invalid':
        case 'denied':
        case 'rate_limit':
          attempt -= 1;
          moves += 1;
          if (moves > MAX_KEY_MOVES) return errorAnswer();
          continue;
        case 'retryable':
          if (attempt >= retry.maxAttempts) return errorAnswer();
          await sleep(backoffDelay(attempt, retry), signal);
          continue;
        default:
          return errorAnswer();
      }
    }
  };
}
