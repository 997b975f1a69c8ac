/**
 * One attempt of a request through the pool: one lease, one send, and what its answer means for the
 * next attempt (another key, a retry after backoff, or the answer the caller gets).
 */
import { type KeybatchError, NoUsableKeyError, serializeError } from '../errors.js';
import type { CompletionMean } from '../tokens/completion-mean.js';
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
import { AttemptSignal, sleep } from './attempt-signal.js';
import { backoffDelay, type RetryOptions } from './backoff.js';
import { classifyStatus, type Outcome } from './classify.js';
import { type NormalizedLimits, parseLimits } from './pacing/dialects.js';
import { parseDuration } from './pacing/durations.js';
import { scrubSecret } from './redact.js';
import { endpointOf } from './request-body.js';
import { type Answer, send } from './transport.js';
import type { KeyBroker, Lease, LeaseResult } from './types.js';
import { endpointFailure, notFoundMessage, unreachableMessage } from './unreachable.js';

/** Header marking a synthetic answer that carries a keybatch error to the client. */
export const ERROR_HEADER = 'x-keybatch-error';

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

/** What every request of one pool `fetch` shares. */
export interface FetchContext {
  broker: KeyBroker;
  retry: Required<RetryOptions>;
  /** Time limit of one attempt, ms. */
  timeoutMs: number;
  /** For keys without `base_url`. */
  defaultBase: string;
  fetchImpl: typeof fetch;
  /** `${keyId} ${path}` of the POST routes that answered 2xx to a key: a 404 there is the request's. */
  served: Set<string>;
  mean: CompletionMean;
  onAttempt: ((info: AttemptInfo) => void) | undefined;
  /** An answer showed token limits (an `auto` estimate switches to the tokenizer). */
  sawTokenLimits(): void;
}

/** One request through the pool, across its attempts. */
export interface Call {
  path: string;
  method: string;
  post: boolean;
  init: RequestInit;
  /** The caller's signal. */
  signal: AbortSignal | undefined;
  model: string | undefined;
  /** The body can be sent again (not a stream). */
  replayable: boolean;
  /** Sent through fetch (streams, uploads, a caller's fetch) rather than undici's request. */
  viaFetch: boolean;
  attempt: number;
  moves: number;
  unreachableMoves: number;
}

/** What an attempt ends in: the answer for the caller, or another attempt. */
export type Next = Response | 'again';

/** A keybatch error handed to the SDK as an answer, so the client can throw it as itself. */
export function errorResponse(error: KeybatchError): Response {
  return new Response(JSON.stringify({ error: serializeError(error) }), {
    status: 503,
    headers: { 'content-type': 'application/json', [ERROR_HEADER]: error.code },
  });
}

/** Runs one attempt with `lease`; the lease goes back exactly once, whatever happens. */
export async function runAttempt(ctx: FetchContext, call: Call, lease: Lease): Promise<Next> {
  const attempt = new Attempt(ctx, call, lease);
  try {
    return await attempt.run();
  } catch (error) {
    throw scrubError(error, lease.apiKey, lease.label);
  } finally {
    // Anything thrown before the attempt was reported (a bug, a header, a URL) still frees the key.
    attempt.release({ outcome: call.signal?.aborted ? 'cancelled' : 'retryable', model: call.model });
  }
}

type Report = Omit<AttemptInfo, 'key' | 'model' | 'method' | 'path' | 'attempt' | 'latencyMs'>;

class Attempt {
  readonly #ctx: FetchContext;
  readonly #call: Call;
  readonly #lease: Lease;
  readonly #baseURL: string;
  readonly #route: string;
  readonly #started = performance.now();
  #released = false;

  constructor(ctx: FetchContext, call: Call, lease: Lease) {
    this.#ctx = ctx;
    this.#call = call;
    this.#lease = lease;
    call.attempt += 1;
    this.#baseURL = lease.baseURL ?? ctx.defaultBase;
    this.#route = `${lease.keyId} ${call.path.split('?')[0]}`;
  }

  release(result: LeaseResult): void {
    if (this.#released) return;
    this.#released = true;
    this.#ctx.broker.release(this.#lease, result);
  }

  async run(): Promise<Next> {
    const call = this.#call;
    // The SDK builds a fresh Headers per request: the key is set on it, not on a copy.
    const headers = call.init.headers instanceof Headers ? call.init.headers : new Headers(call.init.headers);
    if (!setCredentials(headers, this.#lease)) return this.#badHeader();
    const limit = new AttemptSignal(call.signal, this.#ctx.timeoutMs);
    let answer: Answer;
    try {
      const url = `${this.#baseURL}${call.path}`;
      const { timeoutMs } = this.#ctx;
      answer = await send(
        { url, init: call.init, headers, signal: limit.signal, timeoutMs, viaFetch: call.viaFetch },
        this.#ctx.fetchImpl,
      );
    } catch (error) {
      await this.#failed(error, limit);
      return 'again';
    }
    const limits = refusalLimits(answer.status, answer.headers, parseLimits(answer.headers, Date.now()));
    if (countsTokens(limits)) this.#ctx.sawTokenLimits();
    if (answer.status >= 200 && answer.status < 300) return this.#served(answer, limits, limit);
    return this.#refused(answer, limits, limit);
  }

  #report(info: Report): void {
    const call = this.#call;
    this.#ctx.onAttempt?.({
      key: this.#lease.label,
      model: call.model,
      method: call.method,
      path: call.path,
      attempt: call.attempt,
      latencyMs: Math.round(performance.now() - this.#started),
      ...(typeof call.init.body === 'string' ? { request: call.init.body } : {}),
      ...info,
    });
  }

  /** `text` with every key of the pool and the lease's own key redacted. */
  #scrub(text: string): string {
    const { broker } = this.#ctx;
    return scrubSecret(broker.scrub ? broker.scrub(text) : text, this.#lease.apiKey, this.#lease.label);
  }

  /** Only a config given past parseConfig (pool.reload of a PoolConfig) can hold such a key. */
  #badHeader(): Next {
    const call = this.#call;
    const error = `key ${this.#lease.label}: its api_key or organization has a character an HTTP header cannot carry`;
    this.release({ outcome: 'invalid', code: 'invalid_header_value', model: call.model });
    this.#report({ outcome: 'invalid', code: 'invalid_header_value', error });
    call.attempt -= 1;
    call.moves += 1;
    if (call.moves > MAX_KEY_MOVES || !call.replayable) return errorResponse(new NoUsableKeyError(error));
    return 'again';
  }

  /** The attempt pointed at the key's endpoint: move to another key after a backoff, or give up. */
  async #unreachable(): Promise<boolean> {
    const call = this.#call;
    call.attempt -= 1;
    call.unreachableMoves += 1;
    if (!call.replayable || call.unreachableMoves > MAX_UNREACHABLE_MOVES) return false;
    await sleep(backoffDelay(call.unreachableMoves, this.#ctx.retry), call.signal);
    return true;
  }

  /** The attempt failed without an answer (connection, time limit, body cut off): returns to retry, or throws. */
  async #failed(error: unknown, limit: AttemptSignal): Promise<void> {
    const call = this.#call;
    const { model } = call;
    limit.done();
    if (call.signal?.aborted) {
      this.release({ outcome: 'cancelled' });
      throw error;
    }
    const endpoint = limit.timedOut ? undefined : endpointFailure(error);
    if (endpoint) {
      const line = unreachableMessage(this.#lease.label, this.#baseURL, endpoint);
      this.release({ outcome: 'retryable', model, unreachable: line });
      this.#report({ outcome: 'retryable', error: line });
      if (await this.#unreachable()) return;
      throw error;
    }
    this.release({ outcome: 'retryable', model });
    const reason = limit.timedOut ? `timed out after ${this.#ctx.timeoutMs} ms` : (error as Error).message;
    this.#report({ outcome: 'retryable', error: reason });
    if (call.attempt >= this.#ctx.retry.maxAttempts || !call.replayable) throw error;
    await sleep(backoffDelay(call.attempt, this.#ctx.retry), call.signal);
  }

  /** A 2xx: a stream goes on as it comes (scrubbed); a JSON answer is read, scrubbed and counted. */
  async #served(answer: Answer, limits: NormalizedLimits | undefined, limit: AttemptSignal): Promise<Next> {
    const { status } = answer;
    const { model, path } = this.#call;
    if (this.#call.post) this.#ctx.served.add(this.#route);
    const contentType = answer.headers.get('content-type') ?? '';
    if (!contentType.includes('application/json')) {
      // A stream (or a file): its time limit runs on while the caller reads it.
      this.release({ outcome: 'ok', status, model, limits });
      this.#report({ outcome: 'ok', status });
      const response = answer.response(() => limit.done());
      if (!contentType.includes('text/event-stream')) return response;
      const { broker } = this.#ctx;
      return broker.scrub
        ? scrubStreamWith(response, (text) => this.#scrub(text))
        : scrubStream(response, this.#lease.apiKey, this.#lease.label);
    }
    let text: string;
    try {
      // An answer that echoes a key of the pool (or a piece of one) is redacted before anyone sees it.
      text = this.#scrub(await answer.text());
    } catch (error) {
      await this.#failed(error, limit);
      return 'again';
    }
    limit.done();
    const { response, usage } = readJsonAnswer(answer, text);
    const used = usageTokens(usage);
    if (used && endpointOf(path) !== 'embeddings') this.#ctx.mean.observe(used.completion);
    this.release({ outcome: 'ok', status, model, limits, tokens: used?.total, usage });
    this.#report({ outcome: 'ok', status, response: text });
    return response;
  }

  /** An error answer: another key, a retry after backoff, or the answer for the caller. */
  async #refused(answer: Answer, limits: NormalizedLimits | undefined, limit: AttemptSignal): Promise<Next> {
    const call = this.#call;
    const { status } = answer;
    // An error body that echoes a key (some proxies do) is redacted, and cut to 4 KiB.
    const text = capErrorBody(this.#scrub(await answer.text().catch(() => '')));
    limit.done();
    const body = errorBody(text);
    const outcome = classifyStatus(status, body);
    const code = body.code ?? undefined;
    // A 404 on a route that never answered this key, not about a model or a parameter: the base URL is wrong.
    const wrongRoute =
      status === 404 &&
      call.post &&
      outcome !== 'denied' &&
      body.param == null &&
      !this.#ctx.served.has(this.#route);
    const line = wrongRoute
      ? unreachableMessage(
          this.#lease.label,
          this.#baseURL,
          notFoundMessage(call.method, call.path, body.message),
        )
      : undefined;
    this.release({
      outcome,
      status,
      code,
      model: call.model,
      limits,
      ...(line ? { unreachable: line } : {}),
    });
    this.#report({ outcome, status, code, response: text });
    const errorAnswer = () => textResponse(answer, text);
    if (line) return (await this.#unreachable()) ? 'again' : errorAnswer();
    if (!call.replayable) return errorAnswer();
    switch (outcome) {
      case 'quota':
      case 'invalid':
      case 'denied':
      case 'rate_limit':
        call.attempt -= 1;
        call.moves += 1;
        return call.moves > MAX_KEY_MOVES ? errorAnswer() : 'again';
      case 'retryable':
        if (call.attempt >= this.#ctx.retry.maxAttempts) return errorAnswer();
        await sleep(backoffDelay(call.attempt, this.#ctx.retry), call.signal);
        return 'again';
      default:
        return errorAnswer();
    }
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
