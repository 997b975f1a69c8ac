/** Exponential backoff with jitter, as a pure function of the attempt number. */

export interface RetryOptions {
  /**
   * Attempts for one request on retryable answers (408, 409, 5xx, timeouts, dropped connections).
   * Moving to another key after a quota, rate-limit, invalid-key or no-access answer is not an attempt.
   * @default 5
   */
  maxAttempts?: number;
  /** @default 500 */
  baseDelayMs?: number;
  /** @default 30000 */
  maxDelayMs?: number;
}

export const RETRY_DEFAULTS: Readonly<Required<RetryOptions>> = Object.freeze({
  maxAttempts: 5,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
});

/**
 * Delay before retry number `attempt` (1 = the first retry): base·2^(attempt-1), capped, with
 * "equal jitter" (between half and all of it) so retries of many requests spread out.
 */
export function backoffDelay(
  attempt: number,
  options: Required<RetryOptions>,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}
