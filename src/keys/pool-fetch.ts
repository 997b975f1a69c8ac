/**
 * The one retry loop: a `fetch` for the openai SDK (which runs with `maxRetries: 0`) that leases a
 * key per attempt, sends the request with that key's credentials and base URL, reports the answer
 * to the pool, and moves to another key or retries with backoff as the answer says
 * (`pool-attempt.ts`: one attempt).
 */
import { AbortError, KeybatchError } from '../errors.js';
import { CompletionMean } from '../tokens/completion-mean.js';
import { RETRY_DEFAULTS, type RetryOptions } from './backoff.js';
import {
  type AttemptInfo,
  type Call,
  ERROR_HEADER,
  errorResponse,
  type FetchContext,
  runAttempt,
} from './pool-attempt.js';
import { describeBody } from './request-body.js';
import type { KeyBroker, Lease, LeaseRequest } from './types.js';

export { type AttemptInfo, ERROR_HEADER };

/** The base URL the pool's clients are built with; each attempt swaps in its key's base URL. */
export const POOL_BASE_URL = 'http://keybatch.pool/v1';
export const DEFAULT_BASE_URL = 'https://api.openai.com/v1';

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

/** The error of a request not sent because the run stopped sending. */
function notSent(stopSending: AbortSignal): KeybatchError {
  const reason = stopSending.reason;
  return reason instanceof KeybatchError ? reason : new AbortError('stopped: nothing more is sent');
}

export function createPoolFetch(broker: KeyBroker, options: PoolFetchOptions = {}): typeof fetch {
  const estimateMode = options.tokenEstimate ?? 'auto';
  /** Whether token counts matter (auto: a key has `tpm`, or an answer showed a token limit). */
  let tokenLimited = estimateMode === 'tokenizer';
  const ctx: FetchContext = {
    broker,
    retry: { ...RETRY_DEFAULTS, ...options.retry },
    // Longer than Node's longest timer is no limit at all.
    timeoutMs: Math.min(options.timeoutMs ?? 600_000, 2 ** 31 - 1 - 1000),
    defaultBase: (options.defaultBaseURL ?? process.env['OPENAI_BASE_URL'] ?? DEFAULT_BASE_URL).replace(
      /\/+$/,
      '',
    ),
    fetchImpl: options.fetch ?? globalThis.fetch,
    served: new Set<string>(),
    mean: new CompletionMean(),
    onAttempt: options.onAttempt,
    sawTokenLimits() {
      if (estimateMode === 'auto') tokenLimited = true;
    },
  };
  const workerId = options.workerId ?? 0;
  const { stopSending } = options;

  return async function poolFetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (!url.startsWith(POOL_BASE_URL)) return ctx.fetchImpl(input, init);
    if (estimateMode === 'auto' && !tokenLimited && broker.tokenLimited?.()) tokenLimited = true;
    const path = url.slice(POOL_BASE_URL.length);
    const { model, tokens, stream } = describeBody(init.body, path, {
      tokenizer: tokenLimited,
      mean: ctx.mean,
    });
    const organization = options.organization ?? organizationOf(init.headers);
    const request: LeaseRequest = { model, tokens, workerId };
    if (organization !== undefined) request.organization = organization;
    const method = init.method ?? 'GET';
    const call: Call = {
      path,
      method,
      post: method.toUpperCase() === 'POST',
      init,
      signal: init.signal ?? undefined,
      model,
      replayable: !(init.body instanceof ReadableStream),
      // undici's request for whole answers to text bodies; fetch for streams, uploads, or a fetch of the caller's.
      viaFetch:
        options.fetch !== undefined ||
        stream === true ||
        (init.body != null && typeof init.body !== 'string'),
      attempt: 0,
      moves: 0,
      unreachableMoves: 0,
    };
    // Waiting for a key or a slot ends when either the caller's signal or `stopSending` aborts.
    const waitSignal =
      stopSending && call.signal ? AbortSignal.any([call.signal, stopSending]) : (stopSending ?? call.signal);
    for (;;) {
      const lease = await acquire(broker, request, waitSignal, call.signal, stopSending);
      if (lease instanceof Response) return lease;
      const next = await runAttempt(ctx, call, lease);
      if (next !== 'again') return next;
    }
  };
}

/**
 * A lease for the next attempt, or the answer that ends the request: a keybatch error (no usable
 * key, pool closed, stopped sending) goes back as an answer the client throws as itself; the
 * caller's own abort is thrown (the SDK makes it APIUserAbortError).
 */
async function acquire(
  broker: KeyBroker,
  request: LeaseRequest,
  waitSignal: AbortSignal | undefined,
  signal: AbortSignal | undefined,
  stopSending: AbortSignal | undefined,
): Promise<Lease | Response> {
  try {
    if (stopSending?.aborted) throw stopSending.reason;
    return await broker.acquire(request, waitSignal);
  } catch (error) {
    if (stopSending?.aborted && !signal?.aborted) return errorResponse(notSent(stopSending));
    if (error instanceof KeybatchError && !signal?.aborted) return errorResponse(error);
    throw error;
  }
}
