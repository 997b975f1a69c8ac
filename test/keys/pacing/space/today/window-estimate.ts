/**
 * The window of OpenAI-style `x-ratelimit-*` limits. The headers do not say it; the dialect reader
 * assumes a minute (OpenAI's limits are per minute), but servers that copy the headers count over
 * seconds (Azure counts over 1–10 s windows, simulators over any). For a token bucket, `reset` is
 * the time until the bucket is full again, so `reset × limit ÷ used` is the window; for window
 * limiters the same figure scatters around the window. The largest estimate seen (at most a minute)
 * is kept: it converges on a bucket's window and never paces a minute window faster than its limit.
 */
import {
  type LimitWindow,
  MINUTE_MS,
  type NormalizedLimits,
} from '../../../../../src/keys/pacing/dialects.js';

/** Fewest units used in a window before its reset says anything. */
const MIN_USED = 1;
const MIN_WINDOW_MS = 1000;

export interface WindowSeen {
  requests: number;
  tokens: number;
}

function estimate(window: LimitWindow): number | undefined {
  if (window.windowMs !== MINUTE_MS || window.remaining === undefined || window.resetMs === undefined)
    return undefined;
  const used = window.limit - window.remaining;
  if (used < MIN_USED || window.resetMs <= 0) return undefined;
  return Math.min(MINUTE_MS, Math.max(MIN_WINDOW_MS, (window.resetMs * window.limit) / used));
}

/**
 * `limits` with each per-minute OpenAI window replaced by the window learned so far (`seen`,
 * updated in place; 0: nothing learned, the minute stands). Other dialects state their windows.
 */
export function calibrateWindows(
  limits: NormalizedLimits | undefined,
  seen: WindowSeen,
): NormalizedLimits | undefined {
  if (limits?.dialect !== 'openai') return limits;
  let out = limits;
  for (const dim of ['requests', 'tokens'] as const) {
    const window = limits[dim];
    if (!window) continue;
    const est = estimate(window);
    if (est !== undefined) seen[dim] = Math.max(seen[dim], est);
    if (seen[dim] > 0 && window.windowMs === MINUTE_MS)
      out = { ...out, [dim]: { ...window, windowMs: seen[dim] } };
  }
  return out;
}
