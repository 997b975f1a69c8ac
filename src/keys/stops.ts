/**
 * When a request that no key can serve right now waits quietly, is blocked, or stops: a pure
 * function of what key selection said, the clock, and the wait timeout, tested alone.
 */
import type { Pick } from './select.js';

/** A wait for the soonest key longer than this is "blocked" (said once, notified), whatever the reason. */
export const BLOCKED_AFTER_MS = 30_000;
/** Waits this short are pacing, never "blocked", however small the wait timeout (even 0). */
export const PACING_MS = 1000;
/** The longest delay a Node.js timer takes; a longer one fires at once (with a TimeoutOverflowWarning). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface WaitVerdict {
  /** No key will do without a config edit, or the soonest is further away than the threshold. */
  blocked: boolean;
  /** The wait cannot end within the wait timeout: fail now with NO_USABLE_KEY. */
  giveUp: boolean;
  /** When the soonest key is usable again (Infinity: only a config edit or an answer in flight). */
  until: number;
  /** When to look again (the soonest key, or the end of the wait timeout). */
  wakeAt: number;
}

/**
 * How long a wait may be before the pool counts as blocked: 30 s, or the wait timeout when that
 * is shorter, but never under 1 s (shorter waits are pacing and rate limits that clear on their own).
 */
export function blockedThreshold(waitTimeoutMs: number): number {
  return Math.max(PACING_MS, Math.min(BLOCKED_AFTER_MS, waitTimeoutMs));
}

/**
 * The verdict on a request whose pick was not a key. `blockedSince` is when the pool started
 * being blocked (undefined: not yet; it starts now if this verdict is "blocked"). A wait for an
 * answer in flight (a budget still learning its limits) is never blocked.
 */
export function judgeWait(
  pick: Exclude<Pick, { kind: 'key' }>,
  now: number,
  blockedSince: number | undefined,
  waitTimeoutMs: number,
): WaitVerdict {
  const deadline = (blockedSince ?? now) + waitTimeoutMs;
  if (pick.kind === 'none') {
    return { blocked: true, giveUp: now >= deadline, until: Number.POSITIVE_INFINITY, wakeAt: deadline };
  }
  const until = pick.until;
  if (pick.pending) return { blocked: false, giveUp: false, until, wakeAt: until };
  // Already blocked (since `blockedSince`): a key that comes only after the wait timeout is too late.
  const late = blockedSince !== undefined && until > deadline;
  if (!late && until - now <= blockedThreshold(waitTimeoutMs)) {
    return { blocked: false, giveUp: false, until, wakeAt: until };
  }
  return { blocked: true, giveUp: until > deadline, until, wakeAt: Math.min(until, deadline) };
}

/** The delay to arm a timer with for `at`: never negative, never past what a Node.js timer takes. */
export function timerDelay(at: number, now: number): number {
  return Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(at - now)));
}
