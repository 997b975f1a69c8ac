import { describe, expect, it } from 'vitest';
import { blockedDelayMs, blockedSchedule, formatDuration } from '../../src/notify/index.js';
import { MAX_TIMER_DELAY_MS } from '../../src/notify/schedule.js';

describe('blockedSchedule', () => {
  it('starts at baseWaitTime and doubles each time', () => {
    expect(blockedSchedule(30, 5)).toEqual([30, 60, 120, 240, 480]);
    expect(blockedSchedule(0.05, 4)).toEqual([0.05, 0.1, 0.2, 0.4]);
  });

  it('gives nothing for a count of 0', () => {
    expect(blockedSchedule(30, 0)).toEqual([]);
  });

  it('never exceeds what a Node.js timer accepts, and never shrinks', () => {
    const delays = blockedSchedule(30, 40);
    expect(delays.at(-1)).toBe(MAX_TIMER_DELAY_MS / 1000);
    for (let i = 1; i < delays.length; i++) expect(delays[i]!).toBeGreaterThanOrEqual(delays[i - 1]!);
    expect(blockedDelayMs(30, 1000)).toBe(MAX_TIMER_DELAY_MS);
  });

  it('gives delays in milliseconds through blockedDelayMs', () => {
    expect([0, 1, 2, 3].map((i) => blockedDelayMs(30, i))).toEqual([30_000, 60_000, 120_000, 240_000]);
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY])(
    'refuses a baseWaitTime of %s, naming it',
    (base) => {
      expect(() => blockedSchedule(base, 3)).toThrow(RangeError);
      expect(() => blockedSchedule(base, 3)).toThrow(`got \`${String(base)}\``);
    },
  );

  it('refuses a count that is not an integer >= 0', () => {
    expect(() => blockedSchedule(30, -1)).toThrow(RangeError);
    expect(() => blockedSchedule(30, 1.5)).toThrow(RangeError);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0ms'],
    [850, '850ms'],
    [45_000, '45s'],
    [60_000, '1m'],
    [150_000, '2m 30s'],
    [3_900_000, '1h 5m'],
    [7_200_000, '2h'],
    [3 * 86_400_000 + 4 * 3_600_000 + 59_000, '3d 4h'],
  ])('%i ms reads as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
