/**
 * Whether an API answer can never succeed as sent (a final 4xx), also after an error crossed a
 * thread or a queue as plain data. Used by the lanes (workers, distributed) and the pipeline's
 * chunk retry alike, so it lives with the rest of the error classification.
 */
import { APIError } from 'openai';

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
