/**
 * When "blocked" notifications repeat: once at once, then after `base·2^0`, `base·2^1`, `base·2^2` …
 * seconds, so a long outage does not flood a chat. Pure functions, tested alone.
 */

/** The longest delay a Node.js timer accepts (about 24.8 days); longer delays are capped to it. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/**
 * The delay in milliseconds before repeat number `index` (0-based) of a "blocked" notification:
 * `baseWaitTimeSec · 2^index` seconds, capped at {@link MAX_TIMER_DELAY_MS}.
 */
export function blockedDelayMs(baseWaitTimeSec: number, index: number): number {
  assertBaseWaitTime(baseWaitTimeSec);
  if (!Number.isInteger(index) || index < 0) {
    throw new RangeError(`Expected \`index\` to be an integer >= 0, got \`${index}\``);
  }
  const ms = baseWaitTimeSec * 1000 * 2 ** index;
  return Math.min(Math.round(ms), MAX_TIMER_DELAY_MS);
}

/**
 * The first `count` delays, in seconds, between successive "blocked" notifications:
 * `[base, 2·base, 4·base, …]` (each capped at {@link MAX_TIMER_DELAY_MS}).
 *
 * @example blockedSchedule(30, 4) // [30, 60, 120, 240]
 */
export function blockedSchedule(baseWaitTimeSec: number, count: number): number[] {
  if (!Number.isInteger(count) || count < 0) {
    throw new RangeError(`Expected \`count\` to be an integer >= 0, got \`${count}\``);
  }
  assertBaseWaitTime(baseWaitTimeSec);
  const delays: number[] = [];
  for (let i = 0; i < count; i++) delays.push(blockedDelayMs(baseWaitTimeSec, i) / 1000);
  return delays;
}

/** Throws a `RangeError` naming the value unless `value` is a finite number > 0. */
export function assertBaseWaitTime(value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(
      `Expected \`baseWaitTime\` to be a finite number of seconds > 0, got \`${String(value)}\` (${typeof value})`,
    );
  }
}

/** A short human duration: `850ms`, `45s`, `2m 30s`, `1h 5m`, `3d 4h`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '0ms';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const totalSec = Math.round(ms / 1000);
  const units: Array<[string, number]> = [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ];
  const parts: string[] = [];
  let rest = totalSec;
  for (const [unit, size] of units) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0 || parts.length > 0) parts.push(`${n}${unit}`);
    if (parts.length === 2) break;
  }
  // Drop a trailing zero part ("2m 0s" -> "2m").
  if (parts.length === 2 && parts[1]?.startsWith('0')) parts.pop();
  return parts.join(' ');
}
