/**
 * The one retry loop: a `fetch` for the openai SDK (which runs with `maxRetries: 0`) that leases a
 * key per attempt, sends the request with that key's credentials and base URL, reports the answer
 * to the pool, and moves to another key or retries with backoff as the answer says.
 */
import { AbortError, KeybatchError, NoUsableKeyError, serializeError } from '../errors.js';
import { CompletionMean } from '../tokens/completion-mean.js';
import { usageTokens } from '../tokens/estimate.js';
import {
  capErrorBody,
  errorBody,
  readJsonAnswer,
  scrubError,
  scrubStream,
  scrubStreamWith,
  setCredentials,
  textResponse,
} from './answers.js';
import { backoffDelay, RETRY_DEFAULTS, type RetryOptions } from './backoff.js';
import { classifyStatus, type Outcome } from './classify.js';
import { type NormalizedLimits, parseLimits } from './pacing/dialects.js';
import { parseDuration } from './pacing/durations.js';
import { scrubSecret } from './redact.js';
import { describeBody, endpointOf } from './request-body.js';
import { type Answer, send } from './transport.js';
import type { KeyBroker, Lease, LeaseRequest, LeaseResult } from './types.js';
import { endpointFailure, notFoundMessage, unreachableMessage } from './unreachable.js';

/** The base URL the pool's clients are built with; each attempt swaps in its key's base URL. */
export const POOL_BASE_URL = 'http://keybatch.pool/v1';
/** Header marking a synthetic answer that carries a keybatch error to the client. */
export const ERROR_HEADER = 'x-keybatch-error';
export const DEFAULT_BASE_URL = 'https://api.openai.com/v1';

/**
 * `text` with every key of the pool (when the broker knows them, in one pass: keys sharing a long
 * prefix are told apart) and the lease's own key redacted.
 */
function scrubAll(broker: KeyBroker, text: string, lease: Lease): string {
  return scrubSecret(broker.scrub ? broker.scrub(text) : text, lease.apiKey, lease.label);
}

/** Moves to another key (quota, rate limit, invalid, no access) allowed for one request. */
const MAX_KEY_MOVES = 1000;
/** Moves away from an unreachable key (refused, DNS, TLS, cross-origin redirect, 404 route) for one request. */
const MAX_UNREACHABLE_MOVES = 50;

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
  /**
   * Only keys of this organization serve this client's requests (a request's own
   * `OpenAI-Organization` header does the same for that request). @default undefined (any key)
   */
  organization?: string;
  /**
   * How request tokens are estimated for `tpm` pacing: `tokenizer` (the model's real tokenizer,
   * ~60 MB and ~170 ms to load per thread), `length` (characters ÷ 4), or `auto`: the tokenizer
   * once a key has `tpm` in the config or an answer showed a token limit, length until then.
   * @default 'auto'
   */
  tokenEstimate?: 'auto' | 'tokenizer' | 'length';
  /**
   * Once aborted, nothing more is sent: a request waiting for a key or a pacer slot, or for a
   * retry, ends with the signal's reason (an `AbortError`); one already on the wire finishes.
   */
  stopSending?: AbortSignal;
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

/**
 * A 429 that gives no limits and no `retry-after` but an `x-ratelimit-reset-*` alone: that reset
 * is when to retry (clamped to 24 h like every wait read from a server).
 */
function refusalLimits(
  status: number,
  headers: Headers,
  limits: NormalizedLimits | undefined,
): NormalizedLimits | undefined {
  if (status !== 429 || limits?.retryAfterMs !== undefined || limits?.requests || limits?.tokens)
    return limits;
  const resets = ['x-ratelimit-reset-requests', 'x-ratelimit-reset-tokens']
    .map((name) => parseDuration(headers.get(name)))
    .filter((ms): ms is number => ms !== undefined);
  return resets.length > 0 ? { ...limits, retryAfterMs: Math.max(...resets) } : limits;
}

/** Whether an answer's limits count tokens. */
function countsTokens(limits: NormalizedLimits | undefined): boolean {
  return (
    limits?.tokens !== undefined || limits?.inputTokens !== undefined || limits?.outputTokens !== undefined
  );
}

/** The `OpenAI-Organization` a request names itself, if any. */
function organizationOf(headers: RequestInit['headers']): string | undefined {
  if (headers === undefined || headers === null) return undefined;
  let value: string | null | undefined;
  if (headers instanceof Headers) value = headers.get('openai-organization');
  else {
    const entries = Array.isArray(headers) ? headers : Object.entries(headers);
    const found = entries.find(([name]) => name.toLowerCase() === 'openai-organization')?.[1];
    value = typeof found === 'string' ? found : found?.join(', ');
  }
  return value === null || value === undefined || value === '' ? undefined : value;
}

/** A keybatch error handed to the SDK as an answer, so the client can throw it as itself. */
function errorResponse(error: KeybatchError): Response {
  return new Response(JSON.stringify({ error: serializeError(error) }), {
    status: 503,
    headers: { 'content-type': 'application/json', [ERROR_HEADER]: error.code },
  });
}

/** The error of a request not sent because the run stopped sending. */
function notSent(stopSending: AbortSignal): KeybatchError {
  const reason = stopSending.reason;
  return reason instanceof KeybatchError ? reason : new AbortError('stopped: nothing more is sent');
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
  /** `${keyId} ${path}` of the POST routes that answered 2xx to a key: a 404 there is the request's. */
  const served = new Set<string>();
  const mean = new CompletionMean();
  const estimateMode = options.tokenEstimate ?? 'auto';
  /** Whether token counts matter (auto: a key has `tpm`, or an answer showed a token limit). */
  let tokenLimited = estimateMode === 'tokenizer';

  return async function poolFetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (!url.startsWith(POOL_BASE_URL)) return fetchImpl(input, init);
    const path = url.slice(POOL_BASE_URL.length);
    const method = init.method ?? 'GET';
    const post = method.toUpperCase() === 'POST';
    const signal = init.signal ?? undefined;
    if (estimateMode === 'auto' && !tokenLimited && broker.tokenLimited?.()) tokenLimited = true;
    const { model, tokens, stream } = describeBody(init.body, path, { tokenizer: tokenLimited, mean });
    const organization = options.organization ?? organizationOf(init.headers);
    const request: LeaseRequest = { model, tokens, workerId };
    if (organization !== undefined) request.organization = organization;
    const replayable = !(init.body instanceof ReadableStream);
    // undici's request for whole answers to text bodies; fetch for streams, uploads, or a fetch of the caller's.
    const viaFetch =
      options.fetch !== undefined || stream === true || (init.body != null && typeof init.body !== 'string');
    let attempt = 0;
    let moves = 0;
    let unreachableMoves = 0;

    const stopSending = options.stopSending;
    // Waiting for a key or a slot ends when either the caller's signal or `stopSending` aborts.
    const waitSignal =
      stopSending && signal ? AbortSignal.any([signal, stopSending]) : (stopSending ?? signal);
    for (;;) {
      let lease: Lease;
      try {
        if (stopSending?.aborted) throw stopSending.reason;
        lease = await broker.acquire(request, waitSignal);
      } catch (error) {
        if (stopSending?.aborted && !signal?.aborted) return errorResponse(notSent(stopSending));
        // The caller's own abort goes back as an abort (the SDK makes it APIUserAbortError);
        // anything else of ours (no usable key, pool closed) is handed over to be thrown as itself.
        if (error instanceof KeybatchError && !signal?.aborted) return errorResponse(error);
        throw error;
      }
      attempt += 1;
      // Whatever happens from here on, the lease goes back exactly once.
      let released = false;
      const release = (result: LeaseResult) => {
        if (released) return;
        released = true;
        broker.release(lease, result);
      };
      const baseURL = lease.baseURL ?? defaultBase;
      const route = `${lease.keyId} ${path.split('?')[0]}`;
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
      /** The attempt pointed at the key's endpoint: move to another key after a backoff, or give up. */
      const unreachable = async (): Promise<boolean> => {
        attempt -= 1;
        unreachableMoves += 1;
        if (!replayable || unreachableMoves > MAX_UNREACHABLE_MOVES) return false;
        await sleep(backoffDelay(unreachableMoves, retry), signal);
        return true;
      };

      try {
        // The SDK builds a fresh Headers per request: the key is set on it, not on a copy.
        const headers = init.headers instanceof Headers ? init.headers : new Headers(init.headers);
        if (!setCredentials(headers, lease)) {
          // Only a config given past parseConfig (pool.reload of a PoolConfig) can hold such a key.
          const error = `key ${lease.label}: its api_key or organization has a character an HTTP header cannot carry`;
          release({ outcome: 'invalid', code: 'invalid_header_value', model });
          report({ outcome: 'invalid', code: 'invalid_header_value', error });
          attempt -= 1;
          moves += 1;
          if (moves > MAX_KEY_MOVES || !replayable) return errorResponse(new NoUsableKeyError(error));
          continue;
        }
        const limit = new AttemptSignal(signal, timeoutMs);

        /** The attempt failed without an answer (connection, time limit, body cut off): retry or throw. */
        const failed = async (error: unknown): Promise<void> => {
          limit.done();
          if (signal?.aborted) {
            release({ outcome: 'cancelled' });
            throw error;
          }
          const endpoint = limit.timedOut ? undefined : endpointFailure(error);
          if (endpoint) {
            const line = unreachableMessage(lease.label, baseURL, endpoint);
            release({ outcome: 'retryable', model, unreachable: line });
            report({ outcome: 'retryable', error: line });
            if (await unreachable()) return;
            throw error;
          }
          release({ outcome: 'retryable', model });
          const reason = limit.timedOut ? `timed out after ${timeoutMs} ms` : (error as Error).message;
          report({ outcome: 'retryable', error: reason });
          if (attempt >= retry.maxAttempts || !replayable) throw error;
          await sleep(backoffDelay(attempt, retry), signal);
        };

        let answer: Answer;
        try {
          answer = await send(
            { url: `${baseURL}${path}`, init, headers, signal: limit.signal, timeoutMs, viaFetch },
            fetchImpl,
          );
        } catch (error) {
          await failed(error);
          continue;
        }

        const { status } = answer;
        const limits = refusalLimits(status, answer.headers, parseLimits(answer.headers, Date.now()));
        if (estimateMode === 'auto' && !tokenLimited && countsTokens(limits)) tokenLimited = true;
        if (status >= 200 && status < 300) {
          if (post) served.add(route);
          const json = answer.headers.get('content-type')?.includes('application/json') ?? false;
          if (!json) {
            // A stream (or a file): its time limit runs on while the caller reads it.
            release({ outcome: 'ok', status, model, limits });
            report({ outcome: 'ok', status });
            const response = answer.response(() => limit.done());
            const events = answer.headers.get('content-type')?.includes('text/event-stream') ?? false;
            if (!events) return response;
            return broker.scrub
              ? scrubStreamWith(response, (text) => scrubAll(broker, text, lease))
              : scrubStream(response, lease.apiKey, lease.label);
          }
          let text: string;
          try {
            // An answer that echoes a key of the pool (or a piece of one) is redacted before anyone sees it.
            text = scrubAll(broker, await answer.text(), lease);
          } catch (error) {
            await failed(error);
            continue;
          }
          limit.done();
          const { response, usage } = readJsonAnswer(answer, text);
          const used = usageTokens(usage);
          if (used && endpointOf(path) !== 'embeddings') mean.observe(used.completion);
          release({ outcome: 'ok', status, model, limits, tokens: used?.total, usage });
          report({ outcome: 'ok', status, response: text });
          return response;
        }

        // An error body that echoes a key (some proxies do) is redacted, and cut to 4 KiB.
        const text = capErrorBody(scrubAll(broker, await answer.text().catch(() => ''), lease));
        limit.done();
        const body = errorBody(text);
        const outcome = classifyStatus(status, body);
        const code = body.code ?? undefined;
        // A 404 on a route that never answered this key, not about a model or a parameter: the base URL is wrong.
        const wrongRoute =
          status === 404 && post && outcome !== 'denied' && body.param == null && !served.has(route);
        const line = wrongRoute
          ? unreachableMessage(lease.label, baseURL, notFoundMessage(method, path, body.message))
          : undefined;
        release({ outcome, status, code, model, limits, ...(line ? { unreachable: line } : {}) });
        report({ outcome, status, code, response: text });
        const errorAnswer = () => textResponse(answer, text);
        if (line) {
          if (await unreachable()) continue;
          return errorAnswer();
        }
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
      } catch (error) {
        throw scrubError(error, lease.apiKey, lease.label);
      } finally {
        // Anything thrown before the attempt was reported (a bug, a header, a URL) still frees the key.
        release({ outcome: signal?.aborted ? 'cancelled' : 'retryable', model });
      }
    }
  };
}
