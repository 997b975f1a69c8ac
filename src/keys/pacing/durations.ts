/** Durations and waits as servers write them, in milliseconds, clamped to 0..24 h. */

export const MAX_WAIT_MS = 86_400_000;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

function clamp(ms: number): number {
  return Math.min(MAX_WAIT_MS, Math.max(0, ms));
}

/**
 * A reset duration: `1s`, `6m0s`, `20ms`, `1.5s`, `2m30.123s`, `1h2m`, or a bare number of seconds.
 * Anything else is undefined.
 */
export function parseDuration(value: string | undefined | null): number | undefined {
  if (value == null) return undefined;
  const text = value.trim();
  if (text === '' || text.length > 64) return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return clamp(Number(text) * 1000);
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let end = 0;
  for (let match = part.exec(text); match; match = part.exec(text)) {
    total += Number(match[1]) * UNIT_MS[match[2]!]!;
    end = part.lastIndex;
  }
  return end === text.length && end > 0 && Number.isFinite(total) ? clamp(total) : undefined;
}

/**
 * A wait as a number: decimals, exponents (`1e9`) and `Infinity` are a (long) wait, clamped by the
 * caller; negatives, `NaN` and anything else are unknown.
 */
function waitNumber(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (!/^(\d+(\.\d+)?(e\+?\d+)?|Infinity)$/i.test(text)) return undefined;
  const n = Number(text.toLowerCase() === 'infinity' ? 'Infinity' : text);
  return n >= 0 ? n : undefined;
}

/** `retry-after-ms` (milliseconds), else `retry-after` in seconds or as an HTTP date. */
export function parseRetryAfter(
  ms: string | undefined,
  header: string | undefined,
  now: number,
): number | undefined {
  const msValue = waitNumber(ms);
  if (msValue !== undefined) return clamp(msValue);
  if (header === undefined) return undefined;
  const text = header.trim();
  const seconds = waitNumber(text);
  if (seconds !== undefined) return clamp(seconds * 1000);
  // An HTTP date (IMF-fixdate, or the obsolete RFC 850 / asctime forms): must name a weekday or month.
  if (!/^[A-Za-z]{3}/.test(text) || !/GMT|UTC|\d{4}$/.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : clamp(at - now);
}
