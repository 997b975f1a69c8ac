import { describe, expect, it } from 'vitest';
import { DAY_MS, MINUTE_MS, parseInstant, parseLimits } from '../../../src/keys/pacing/dialects.js';
import { parseDuration, parseRetryAfter } from '../../../src/keys/pacing/durations.js';
import {
  parseStructuredDictionary,
  parseStructuredList,
} from '../../../src/keys/pacing/structured-fields.js';

const NOW = Date.parse('2026-12-01T09:00:00Z');

describe('durations', () => {
  it.each([
    ['1s', 1000],
    ['6m0s', 360_000],
    ['20ms', 20],
    ['1.5s', 1500],
    ['2m30.123s', 150_123],
    ['1h2m', 3_720_000],
    ['12', 12_000],
    ['0', 0],
    ['', undefined],
    ['soon', undefined],
    ['5s later', undefined],
    ['-1s', undefined],
    ['1e3', undefined],
    ['48h', DAY_MS],
    ['9999999999', DAY_MS],
  ])('reset %j is %j ms (clamped to 24 h)', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it('retry-after-ms wins over retry-after; seconds, decimals and HTTP dates all read', () => {
    expect(parseRetryAfter('1500', '30', NOW)).toBe(1500);
    expect(parseRetryAfter(undefined, '30', NOW)).toBe(30_000);
    expect(parseRetryAfter(undefined, '0.5', NOW)).toBe(500);
    expect(parseRetryAfter(undefined, 'Tue, 01 Dec 2026 09:00:20 GMT', NOW)).toBe(20_000);
    expect(parseRetryAfter(undefined, 'Tue, 01 Dec 2026 08:00:00 GMT', NOW)).toBe(0);
    expect(parseRetryAfter(undefined, 'Sat, 01 Jan 2050 00:00:00 GMT', NOW)).toBe(DAY_MS);
  });

  it.each([['-5'], ['soon'], ['NaN'], ['12abc'], ['1,5'], ['']])('retry-after %j is ignored', (text) => {
    expect(parseRetryAfter(text, text, NOW)).toBeUndefined();
  });

  it('an RFC 3339 instant is read relative to the clock passed in', () => {
    expect(parseInstant('2026-12-01T09:00:30Z', NOW)).toBe(30_000);
    expect(parseInstant('2026-12-01T09:00:00.250Z', NOW)).toBe(250);
    expect(parseInstant('2026-12-01T10:00:30+01:00', NOW)).toBe(30_000);
    expect(parseInstant('2026-12-01T08:00:00Z', NOW)).toBe(0);
    expect(parseInstant('2026-12-05T09:00:00Z', NOW)).toBe(DAY_MS);
    expect(parseInstant('next tuesday', NOW)).toBeUndefined();
    expect(parseInstant('1733043600', NOW)).toBeUndefined();
  });
});

describe('structured fields', () => {
  it('reads a list of items with parameters, skipping a bad member', () => {
    const items = parseStructuredList('"default";q=100;w=60, bad(, "daily";q=1000;w=86400;qu="requests"');
    expect(items.map((item) => item.value)).toEqual(['default', 'daily']);
    expect(items[1]!.params.get('q')).toBe(1000);
    expect(items[1]!.params.get('qu')).toBe('requests');
  });

  it('reads a dictionary', () => {
    const dict = parseStructuredDictionary('limit=100, remaining=50, reset=5');
    expect(dict.get('remaining')?.value).toBe(50);
  });
});

describe('parseLimits: every dialect into one shape', () => {
  it('OpenAI: per-minute requests and tokens with Go-style resets', () => {
    const limits = parseLimits(
      {
        'x-ratelimit-limit-requests': '500',
        'x-ratelimit-remaining-requests': '499',
        'x-ratelimit-reset-requests': '120ms',
        'x-ratelimit-limit-tokens': '30000',
        'x-ratelimit-remaining-tokens': '29900',
        'x-ratelimit-reset-tokens': '6m0s',
      },
      NOW,
    );
    expect(limits).toEqual({
      dialect: 'openai',
      requests: { limit: 500, remaining: 499, resetMs: 120, windowMs: MINUTE_MS },
      tokens: { limit: 30_000, remaining: 29_900, resetMs: 360_000, windowMs: MINUTE_MS },
    });
  });

  it('reads a fetch Headers object the same as a plain one', () => {
    const headers = new Headers({
      'X-RateLimit-Limit-Requests': '60',
      'X-RateLimit-Remaining-Requests': '1',
    });
    expect(parseLimits(headers, NOW)?.requests).toEqual({ limit: 60, remaining: 1, windowMs: MINUTE_MS });
  });

  it('Azure: -1 and 0 mean unknown, retry-after-ms is read', () => {
    const limits = parseLimits(
      {
        'x-ratelimit-limit-tokens': '-1',
        'x-ratelimit-remaining-tokens': '-1',
        'x-ratelimit-reset-tokens': '0',
        'x-ratelimit-remaining-requests': '9',
        'retry-after-ms': '2500',
      },
      NOW,
    );
    expect(limits).toEqual({ retryAfterMs: 2500 });
  });

  it('Groq: a request reset of hours means requests are counted per day (a budget, not a pace)', () => {
    const limits = parseLimits(
      {
        'x-ratelimit-limit-requests': '14400',
        'x-ratelimit-remaining-requests': '14370',
        'x-ratelimit-reset-requests': '2h59m56s',
        'x-ratelimit-limit-tokens': '18000',
        'x-ratelimit-remaining-tokens': '17997',
        'x-ratelimit-reset-tokens': '7.66s',
        'retry-after': '2',
      },
      NOW,
    );
    expect(limits?.requests).toBeUndefined();
    expect(limits?.requestsLong).toEqual({
      limit: 14_400,
      remaining: 14_370,
      resetMs: 10_796_000,
      windowMs: DAY_MS,
    });
    expect(limits?.tokens?.limit).toBe(18_000);
    expect(limits?.retryAfterMs).toBe(2000);
  });

  it('Anthropic: requests, tokens, input and output tokens with RFC 3339 resets', () => {
    const limits = parseLimits(
      {
        'anthropic-ratelimit-requests-limit': '1000',
        'anthropic-ratelimit-requests-remaining': '999',
        'anthropic-ratelimit-requests-reset': '2026-12-01T09:00:01Z',
        'anthropic-ratelimit-tokens-limit': '96000',
        'anthropic-ratelimit-tokens-remaining': '95000',
        'anthropic-ratelimit-tokens-reset': '2026-12-01T09:00:02Z',
        'anthropic-ratelimit-input-tokens-limit': '80000',
        'anthropic-ratelimit-input-tokens-remaining': '80000',
        'anthropic-ratelimit-input-tokens-reset': '2026-12-01T09:00:00Z',
        'anthropic-ratelimit-output-tokens-limit': '16000',
        'anthropic-ratelimit-output-tokens-remaining': 'lots',
        'retry-after': '7',
      },
      NOW,
    );
    expect(limits?.dialect).toBe('anthropic');
    expect(limits?.requests).toEqual({
      limit: 1000,
      remaining: 999,
      resetMs: 1000,
      resetAt: NOW + 1000,
      windowMs: MINUTE_MS,
    });
    expect(limits?.tokens?.resetMs).toBe(2000);
    expect(limits?.inputTokens?.limit).toBe(80_000);
    expect(limits?.outputTokens).toEqual({ limit: 16_000, windowMs: MINUTE_MS });
    expect(limits?.retryAfterMs).toBe(7000);
  });

  it('IETF draft 08+: RateLimit-Policy and RateLimit matched by policy name; the tightest pace wins', () => {
    const limits = parseLimits(
      {
        'ratelimit-policy':
          '"burst";q=100;w=60, "slow";q=1000;w=3600, "daily";q=5000;w=86400, "bytes";q=1000;qu="content-bytes";w=1',
        ratelimit: '"burst";r=40;t=12, "daily";r=4000;t=3600',
      },
      NOW,
    );
    expect(limits?.dialect).toBe('ietf');
    // 1,000 an hour (16.7/min) is tighter than 100 a minute.
    expect(limits?.requests).toEqual({ limit: 1000, windowMs: 3_600_000 });
    expect(limits?.requestsLong).toEqual({
      limit: 5000,
      remaining: 4000,
      resetMs: 3_600_000,
      windowMs: DAY_MS,
    });
  });

  it('IETF draft 08+: a single policy with its remaining and reset', () => {
    const limits = parseLimits(
      { 'RateLimit-Policy': '"default";q=50;w=10', RateLimit: '"default";r=50;t=30' },
      NOW,
    );
    expect(limits?.requests).toEqual({ limit: 50, remaining: 50, resetMs: 30_000, windowMs: 10_000 });
  });

  it('IETF draft 07: RateLimit as a dictionary', () => {
    const limits = parseLimits(
      { RateLimit: 'limit=100, remaining=50, reset=5', 'RateLimit-Policy': '100;w=60' },
      NOW,
    );
    expect(limits?.requests).toEqual({ limit: 100, remaining: 50, resetMs: 5000, windowMs: 60_000 });
  });

  it('the older RateLimit-Limit/Remaining/Reset, with a window in the limit and a Unix-time reset', () => {
    expect(
      parseLimits(
        { 'RateLimit-Limit': '100, 100;w=60', 'RateLimit-Remaining': '7', 'RateLimit-Reset': '30' },
        NOW,
      )?.requests,
    ).toEqual({ limit: 100, remaining: 7, resetMs: 30_000, windowMs: 60_000 });
    const unix = String(NOW / 1000 + 42);
    expect(
      parseLimits({ 'X-RateLimit-Limit': '60', 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': unix }, NOW)
        ?.requests,
    ).toEqual({ limit: 60, remaining: 0, resetMs: 42_000, resetAt: NOW + 42_000 });
  });

  it.each([
    [{}, undefined],
    [{ 'content-type': 'application/json' }, undefined],
    [{ 'x-ratelimit-limit-requests': 'many', 'x-ratelimit-remaining-requests': '3' }, undefined],
    [{ 'x-ratelimit-limit-requests': '10', 'x-ratelimit-remaining-requests': '11' }, undefined],
    [{ 'x-ratelimit-limit-requests': '0', 'x-ratelimit-remaining-requests': '0' }, undefined],
    [{ 'x-ratelimit-limit-requests': 'NaN' }, undefined],
    [{ 'anthropic-ratelimit-requests-limit': '-1' }, undefined],
    [{ RateLimit: '"default";r=oops', 'RateLimit-Policy': '"default";q=;w=60' }, undefined],
    [{ RateLimit: '"default";r=5;t=1' }, undefined],
    [{ 'RateLimit-Policy': `"x";q=1;w=${'9'.repeat(5000)}` }, undefined],
    [{ 'retry-after': 'whenever' }, undefined],
  ])('garbage is ignored: %j', (headers, expected) => {
    expect(parseLimits(headers, NOW)).toEqual(expected);
  });

  it('a reset that is garbage drops only the reset; a huge one is clamped to 24 h', () => {
    expect(
      parseLimits(
        {
          'x-ratelimit-limit-requests': '10',
          'x-ratelimit-remaining-requests': '5',
          'x-ratelimit-reset-requests': 'x',
        },
        NOW,
      )?.requests,
    ).toEqual({ limit: 10, remaining: 5, windowMs: MINUTE_MS });
    expect(
      parseLimits({ 'RateLimit-Policy': '"d";q=10;w=999999', RateLimit: '"d";r=1;t=999999' }, NOW)
        ?.requestsLong,
    ).toEqual({ limit: 10, remaining: 1, resetMs: DAY_MS, windowMs: DAY_MS });
  });
});
