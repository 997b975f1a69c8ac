/**
 * What a failed chunk attempt leads to. A chunk retry runs `fn` again on the whole chunk — every
 * step of it for every item — so a chunk is only retried when its error may go away: never for a
 * request that can never succeed as sent (a final 4xx answer of the API).
 */
import { type KeybatchErrorCode, keybatchErrorOf } from '../errors.js';
import { isFinalRequestError } from '../keys/final-request.js';

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
