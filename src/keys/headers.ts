/** Reading the rate-limit headers providers send: `x-ratelimit-*`, `retry-after(-ms)`. */

export interface RateLimitInfo {
  limitRequests?: number;
  remainingRequests?: number;
  /** Milliseconds until the request budget is full again. */
  resetRequestsMs?: number;
  limitTokens?: number;
  remainingTokens?: number;
  resetTokensMs?: number;
  /** From `retry-after-ms`, else `retry-after` (seconds or an HTTP date). */
  retryAfterMs?: number;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * The longest wait a server may impose through `retry-after(-ms)` or `x-ratelimit-reset-*`: 24 h.
 * Longer values (`1e9` seconds, `99999999h`, a date years ahead) are taken as 24 h, so no wait
 * computed from an answer can overflow a timer or outlast a day.
 */
export const MAX_SERVER_WAIT_MS = 86_400_000;

/** A wait read from a header, in ms: NaN and negatives are unknown; anything longer is 24 h. */
export function clampServerWait(ms: number): number | undefined {
  if (Number.isNaN(ms) || ms < 0) return undefined;
  return Math.min(ms, MAX_SERVER_WAIT_MS);
}

/**
 * Parses reset durations as providers write them: `1s`, `6m0s`, `20ms`, `1.5s`, `2m30.123s`, `1h2m`,
 * or a bare number of seconds. Returns undefined for anything else; at most {@link MAX_SERVER_WAIT_MS}.
 */
export function parseResetDuration(value: string | null | undefined): number | undefined {
  if (value == null) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return clampServerWait(Number(text) * 1000);
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let end = 0;
  for (let match = part.exec(text); match; match = part.exec(text)) {
    total += Number(match[1]) * UNIT_MS[match[2]!]!;
    end = part.lastIndex;
  }
  return end === text.length && end > 0 ? clampServerWait(total) : undefined;
}

/** A count header; missing, malformed or negative (e.g. -1 for "unknown") is undefined. */
function count(value: string | null): number | undefined {
  if (value == null || value.trim() === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** A wait header: a non-negative number (huge ones, even `1e400`, are a long wait), else undefined. */
function duration(value: string | null, unitMs: number): number | undefined {
  if (value == null || value.trim() === '') return undefined;
  const n = Number(value);
  return n >= 0 ? clampServerWait(n * unitMs) : undefined;
}

function retryAfter(headers: Headers, now: number): number | undefined {
  const ms = duration(headers.get('retry-after-ms'), 1);
  if (ms !== undefined) return ms;
  const raw = headers.get('retry-after');
  if (raw == null) return undefined;
  const seconds = duration(raw, 1000);
  if (seconds !== undefined) return seconds;
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : clampServerWait(Math.max(0, date - now));
}

export function readRateLimitHeaders(headers: Headers, now = Date.now()): RateLimitInfo {
  const info: RateLimitInfo = {};
  const set = <K extends keyof RateLimitInfo>(key: K, value: number | undefined) => {
    if (value !== undefined) info[key] = value;
  };
  set('limitRequests', count(headers.get('x-ratelimit-limit-requests')));
  set('remainingRequests', count(headers.get('x-ratelimit-remaining-requests')));
  set('resetRequestsMs', parseResetDuration(headers.get('x-ratelimit-reset-requests')));
  set('limitTokens', count(headers.get('x-ratelimit-limit-tokens')));
  set('remainingTokens', count(headers.get('x-ratelimit-remaining-tokens')));
  set('resetTokensMs', parseResetDuration(headers.get('x-ratelimit-reset-tokens')));
  set('retryAfterMs', retryAfter(headers, now));
  return info;
}
