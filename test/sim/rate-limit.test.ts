import { describe, expect, it } from 'vitest';
import {
  admit,
  createGroupBuckets,
  formatResetDuration,
  type GroupLimits,
  rateLimitHeaders,
} from '../../src/sim/rate-limit.js';

const UNLIMITED = { capacity: Number.POSITIVE_INFINITY, windowMs: 60_000 };

function limits(requests: number, tokens: number, windowMs = 60_000): GroupLimits {
  return { requests: { capacity: requests, windowMs }, tokens: { capacity: tokens, windowMs } };
}

describe('formatResetDuration', () => {
  it.each([
    [0, '0s'],
    [-5, '0s'],
    [Number.NaN, '0s'],
    [20, '20ms'],
    [19.2, '20ms'],
    [999, '999ms'],
    [1000, '1s'],
    [1500, '1.5s'],
    [1140, '1.14s'],
    [59_953, '59.953s'],
    [360_000, '6m0s'],
    [150_123, '2m30.123s'],
    [3_600_000, '1h0m0s'],
    [3_723_400, '1h2m3.4s'],
  ])('formats %s ms as %s, like the real x-ratelimit-reset headers', (ms, expected) => {
    expect(formatResetDuration(ms)).toBe(expected);
  });
});

describe('token buckets', () => {
  it('admits up to the capacity at once, then refuses with the time until one request fits', () => {
    const buckets = createGroupBuckets(0);
    const l = limits(3, Number.POSITIVE_INFINITY);
    expect(admit(buckets, l, 10, 0).allowed).toBe(true);
    expect(admit(buckets, l, 10, 0).allowed).toBe(true);
    expect(admit(buckets, l, 10, 0).allowed).toBe(true);
    const refused = admit(buckets, l, 10, 0);
    expect(refused).toMatchObject({ allowed: false, kind: 'requests', limit: 3, used: 3, tooLarge: false });
    // 3 requests per 60 s refill one request every 20 s.
    expect(refused.allowed === false && refused.retryAfterMs).toBe(20_000);
  });

  it('refills continuously, not at window boundaries', () => {
    const buckets = createGroupBuckets(0);
    const l = limits(2, Number.POSITIVE_INFINITY, 1000);
    admit(buckets, l, 1, 0);
    admit(buckets, l, 1, 0);
    expect(admit(buckets, l, 1, 499).allowed).toBe(false);
    expect(admit(buckets, l, 1, 500).allowed).toBe(true);
  });

  it('refuses on tokens with the wait until this request’s tokens fit', () => {
    const buckets = createGroupBuckets(0);
    const l = limits(100, 1000);
    expect(admit(buckets, l, 900, 0).allowed).toBe(true);
    const refused = admit(buckets, l, 200, 0);
    expect(refused).toMatchObject({ allowed: false, kind: 'tokens', limit: 1000, used: 900, requested: 200 });
    // 100 tokens are missing; 1000 tokens per minute refill 100 in 6 s.
    expect(refused.allowed === false && refused.retryAfterMs).toBeCloseTo(6000);
  });

  it('flags a request larger than the token capacity as never fitting', () => {
    const refused = admit(createGroupBuckets(0), limits(10, 100), 101, 0);
    expect(refused).toMatchObject({ allowed: false, kind: 'tokens', tooLarge: true });
    expect(refused.allowed === false && refused.retryAfterMs).toBe(Number.POSITIVE_INFINITY);
  });

  it('a refused request takes nothing from the buckets', () => {
    const buckets = createGroupBuckets(0);
    const l = limits(10, 100);
    admit(buckets, l, 150, 0);
    expect(rateLimitHeaders(buckets, l, 0)).toMatchObject({
      'x-ratelimit-remaining-requests': '10',
      'x-ratelimit-remaining-tokens': '100',
    });
  });

  it('headers give the limit, what remains and the time until the bucket is full again', () => {
    const buckets = createGroupBuckets(0);
    const l = limits(60, 6000);
    admit(buckets, l, 600, 0);
    expect(rateLimitHeaders(buckets, l, 0)).toEqual({
      'x-ratelimit-limit-requests': '60',
      'x-ratelimit-remaining-requests': '59',
      'x-ratelimit-reset-requests': '1s',
      'x-ratelimit-limit-tokens': '6000',
      'x-ratelimit-remaining-tokens': '5400',
      'x-ratelimit-reset-tokens': '6s',
    });
  });

  it('omits the headers of a kind without a configured limit', () => {
    const l: GroupLimits = { requests: { capacity: 5, windowMs: 1000 }, tokens: UNLIMITED };
    const headers = rateLimitHeaders(createGroupBuckets(0), l, 0);
    expect(Object.keys(headers).sort()).toEqual([
      'x-ratelimit-limit-requests',
      'x-ratelimit-remaining-requests',
      'x-ratelimit-reset-requests',
    ]);
    expect(rateLimitHeaders(createGroupBuckets(0), { requests: UNLIMITED, tokens: UNLIMITED }, 0)).toEqual(
      {},
    );
  });

  it('a bucket first used without a limit starts full when a limit is configured later', () => {
    const buckets = createGroupBuckets(0);
    expect(admit(buckets, { requests: UNLIMITED, tokens: UNLIMITED }, 50, 0).allowed).toBe(true);
    expect(admit(buckets, limits(1, 100), 50, 10).allowed).toBe(true);
    expect(admit(buckets, limits(1, 100), 50, 10).allowed).toBe(false);
  });
});
