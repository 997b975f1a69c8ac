/**
 * What a failed chunk attempt leads to. A chunk retry runs `fn` again on the whole chunk — every
 * step of it for every item — so a chunk is only retried when its error may go away: never for a
 * request that can never succeed as sent (a final 4xx answer of the API).
 */
import { APIError } from 'openai';
import { type KeybatchErrorCode, keybatchErrorOf } from '../errors.js';

/** Codes that stop the whole run instead of failing a chunk. */
const STOP_CODES = new Set<KeybatchErrorCode>([
  'NO_USABLE_KEY',
  'MODEL_UNAVAILABLE',
  'ABORTED',
  'BUDGET_REACHED',
]);
/** Codes that fail the whole run at once: the checkpoint cannot be written. */
const FATAL_CODES = new Set<KeybatchErrorCode>(['CHECKPOINT_WRITE', 'RUN_LOCKED', 'OUTPUT_REFUSED']);
/** Codes a retry cannot change. */
const FINAL_CODES = new Set<KeybatchErrorCode>(['TASK_INVALID']);

/** 4xx statuses that can change on a retry (or are the pool's business: keys, rate limits). */
const RETRYABLE_4XX = new Set([401, 403, 408, 409, 429]);
/** Codes of a 404/403 that mean the key has no access to the model (the pool handles those). */
const MODEL_ACCESS_CODES = new Set(['model_not_found', 'model_not_available', 'unsupported_model']);

/** Marks an error rebuilt from a worker thread as a final API answer (instanceof is lost there). */
const FINAL_REQUEST = Symbol.for('keybatch.finalRequest');

/** Whether `status`/`code` is an API answer that can never succeed as sent. */
export function isFinalStatus(status: number, code?: unknown): boolean {
  if (status < 400 || status >= 500 || RETRYABLE_4XX.has(status)) return false;
  return !(status === 404 && typeof code === 'string' && MODEL_ACCESS_CODES.has(code));
}

/**
 * Whether `error` was caused by a request that can never succeed: an `openai` APIError (anywhere
 * in its `cause` chain) with a final 4xx status — 400, 404 (not model access), 413, 422, … —
 * anything but 401, 403, 408, 409 and 429.
 */
export function isFinalRequestError(error: unknown): boolean {
  for (let current = error, depth = 0; current && typeof current === 'object' && depth < 8; depth++) {
    if ((current as { [FINAL_REQUEST]?: unknown })[FINAL_REQUEST] === true) return true;
    if (current instanceof APIError && typeof current.status === 'number') {
      return isFinalStatus(current.status, current.code);
    }
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** Marks `error` (rebuilt from a thread's plain data) as a final API answer. */
export function markFinalRequest<E extends Error>(error: E): E {
  Object.defineProperty(error, FINAL_REQUEST, { value: true, enumerable: false });
  return error;
}

export type AttemptVerdict =
  /** The run stops (resumable): no usable key, aborted. The chunk is left for the rerun. */
  | 'stop'
  /** The run fails with this error at once (the checkpoint cannot be written). */
  | 'fatal'
  /** Recorded as failed now (a rerun retries it). */
  | 'fail'
  /** Run the chunk again after a delay. */
  | 'retry';

/** What to do after attempt `attempt` (0-based) of a chunk failed with `error`. */
export function afterFailedAttempt(error: unknown, attempt: number, retries: number): AttemptVerdict {
  const own = keybatchErrorOf(error);
  if (own && STOP_CODES.has(own.code)) return 'stop';
  if (own && FATAL_CODES.has(own.code)) return 'fatal';
  if (own && FINAL_CODES.has(own.code)) return 'fail';
  if (attempt >= retries || isFinalRequestError(error)) return 'fail';
  return 'retry';
}
