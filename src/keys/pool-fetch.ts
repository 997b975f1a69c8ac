/**
 * The one retry loop: a `fetch` for the openai SDK (which runs with `maxRetries: 0`) that leases a
 * key per attempt, sends the request with that key's credentials and base URL, reports the answer
 * to the pool, and moves to another key or retries with backoff as the answer says.
 */
import { AbortError, KeybatchError, serializeError } from '../errors.js';
import { backoffDelay, RETRY_DEFAULTS, type RetryOptions } from './backoff.js';
import { type ApiErrorBody, classifyStatus, type Outcome } from './classify.js';
import { readRateLimitHeaders } from './headers.js';
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

/** What the pool needs to know of a request body: the model and a token estimate. */
export function describeBody(body: unknown): { model?: string; tokens: number } {
  if (typeof body !== 'string') return { tokens: 1 };
  try {
    const parsed = JSON.parse(body) as {
      model?: unknown;
      max_tokens?: unknown;
      max_completion_tokens?: unknown;
    };
    const completion = Number(parsed.max_tokens ?? parsed.max_completion_tokens ?? 0) || 0;
    const tokens = Math.ceil(body.length / 4) + completion;
    return typeof parsed.model === 'string' ? { model: parsed.model, tokens } : { tokens };
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

/**
 * A JSON answer already read (for its usage), handed on without a second parse or a new body
 * stream: the SDK reads it through `json()`/`text()`, which give back what was read.
 */
function readResponse(from: Response, text: string, json: unknown): Response {
  const answer = new Response(null, {
    status: from.status,
    statusText: from.statusText,
    headers: from.headers,
  });
  return Object.defineProperties(answer, {
    url: { value: from.url },
    text: { value: async () => text },
    json: { value: async () => json },
  });
}

/** Reads a JSON answer once: the tokens it used, and the answer to hand to the SDK. */
async function readJsonAnswer(
  response: Response,
): Promise<{ text: string; answer: Response; tokens?: number }> {
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // Not JSON after all: the SDK gets the text as it came and reports it.
    return { text, answer: new Response(text, response) };
  }
  const usage = (json as { usage?: { total_tokens?: unknown } } | null)?.usage;
  const answer = readResponse(response, text, json);
  return typeof usage?.total_tokens === 'number'
    ? { text, answer, tokens: usage.total_tokens }
    : { text, answer };
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
  const timeoutMs = options.timeoutMs ?? 600_000;
  const defaultBase = (options.defaultBaseURL ?? process.env['OPENAI_BASE_URL'] ?? DEFAULT_BASE_URL).replace(
    /\/+$/,
    '',
  );
  const send = options.fetch ?? globalThis.fetch;
  const workerId = options.workerId ?? 0;

  return async function poolFetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (!url.startsWith(POOL_BASE_URL)) return send(input, init);
    const path = url.slice(POOL_BASE_URL.length);
    const method = init.method ?? 'GET';
    const signal = init.signal ?? undefined;
    const { model, tokens } = describeBody(init.body);
    const request: LeaseRequest = { model, tokens, workerId };
    const replayable = !(init.body instanceof ReadableStream);
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
      const headers = new Headers(init.headers);
      headers.set('authorization', `Bearer ${lease.apiKey}`);
      if (lease.organization) headers.set('openai-organization', lease.organization);
      else headers.delete('openai-organization');
      const timeout = AbortSignal.timeout(timeoutMs);
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

      let response: Response;
      try {
        response = await send(`${lease.baseURL ?? defaultBase}${path}`, {
          ...init,
          headers,
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        });
      } catch (error) {
        if (signal?.aborted) {
          broker.release(lease, { outcome: 'cancelled' });
          throw error;
        }
        broker.release(lease, { outcome: 'retryable', model });
        const reason = timeout.aborted ? `timed out after ${timeoutMs} ms` : (error as Error).message;
        report({ outcome: 'retryable', error: reason });
        if (attempt >= retry.maxAttempts || !replayable) throw error;
        await sleep(backoffDelay(attempt, retry), signal);
        continue;
      }

      const { status } = response;
      const rateLimit = readRateLimitHeaders(response.headers);
      if (status >= 200 && status < 300) {
        const json = response.headers.get('content-type')?.includes('application/json') ?? false;
        if (!json) {
          broker.release(lease, { outcome: 'ok', status, model, rateLimit });
          report({ outcome: 'ok', status });
          return response;
        }
        const { text, answer, tokens } = await readJsonAnswer(response);
        broker.release(lease, { outcome: 'ok', status, model, rateLimit, tokens });
        report({ outcome: 'ok', status, response: text });
        return answer;
      }

      // An error body that echoes the key (some proxies do) is redacted before anyone sees it.
      const text = (await response.text().catch(() => '')).split(lease.apiKey).join(lease.label);
      const body = errorBody(text);
      const outcome = classifyStatus(status, body);
      broker.release(lease, { outcome, status, code: body.code ?? undefined, model, rateLimit });
      report({ outcome, status, code: body.code ?? undefined, response: text });
      const answer = () =>
        new Response(text, { status, statusText: response.statusText, headers: response.headers });
      if (!replayable) return answer();
      switch (outcome) {
        case 'quota':
        case 'invalid':
        case 'denied':
        case 'rate_limit':
          attempt -= 1;
          moves += 1;
          if (moves > MAX_KEY_MOVES) return answer();
          continue;
        case 'retryable':
          if (attempt >= retry.maxAttempts) return answer();
          await sleep(backoffDelay(attempt, retry), signal);
          continue;
        default:
          return answer();
      }
    }
  };
}
