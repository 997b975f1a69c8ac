import { describe, expect, it } from 'vitest';
import { backoffDelay, RETRY_DEFAULTS } from '../../src/keys/backoff.js';
import { Budget, PROBE_IN_FLIGHT } from '../../src/keys/budget.js';
import { classifyStatus } from '../../src/keys/classify.js';
import { parseResetDuration, readRateLimitHeaders } from '../../src/keys/headers.js';
import { type KeyView, pickKey } from '../../src/keys/select.js';

describe("classifyStatus: the contract's response table", () => {
  it.each([
    [200, {}, 'ok'],
    [429, { code: 'insufficient_quota', type: 'insufficient_quota' }, 'quota'],
    [429, { type: 'insufficient_quota' }, 'quota'],
    [429, { code: 'rate_limit_exceeded', type: 'requests' }, 'rate_limit'],
    [429, {}, 'rate_limit'],
    [401, { code: 'invalid_api_key' }, 'invalid'],
    [403, {}, 'invalid'],
    [404, { code: 'model_not_found' }, 'denied'],
    [403, { code: 'model_not_found' }, 'denied'],
    [404, {}, 'bad_request'],
    [400, { code: 'context_length_exceeded' }, 'bad_request'],
    [422, {}, 'bad_request'],
    [408, {}, 'retryable'],
    [409, {}, 'retryable'],
    [500, {}, 'retryable'],
    [503, {}, 'retryable'],
  ] as const)('%i %j is %s', (status, body, outcome) => {
    expect(classifyStatus(status, body)).toBe(outcome);
  });
});

describe('rate-limit headers', () => {
  it.each([
    ['1s', 1000],
    ['6m0s', 360_000],
    ['20ms', 20],
    ['1.5s', 1500],
    ['2m30.123s', 150_123],
    ['1h2m', 3_720_000],
    ['12', 12_000],
    ['', undefined],
    ['soon', undefined],
    ['5s later', undefined],
  ])('parses the reset duration %j', (text, ms) => {
    expect(parseResetDuration(text)).toBe(ms);
  });

  it('reads every header and treats -1 or missing as unknown', () => {
    const info = readRateLimitHeaders(
      new Headers({
        'x-ratelimit-limit-requests': '500',
        'x-ratelimit-remaining-requests': '499',
        'x-ratelimit-reset-requests': '120ms',
        'x-ratelimit-limit-tokens': '-1',
        'x-ratelimit-remaining-tokens': '',
        'retry-after': '2',
      }),
    );
    expect(info).toEqual({
      limitRequests: 500,
      remainingRequests: 499,
      resetRequestsMs: 120,
      retryAfterMs: 2000,
    });
    expect(
      readRateLimitHeaders(new Headers({ 'retry-after-ms': '250', 'retry-after': '9' })).retryAfterMs,
    ).toBe(250);
  });
});

describe('backoffDelay', () => {
  it('doubles per attempt with jitter between half and all, capped', () => {
    const options = { ...RETRY_DEFAULTS, baseDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffDelay(1, options, () => 0)).toBe(50);
    expect(backoffDelay(1, options, () => 1)).toBe(100);
    expect(backoffDelay(3, options, () => 1)).toBe(400);
    expect(backoffDelay(10, options, () => 1)).toBe(1000);
    expect(backoffDelay(10, options, () => 0)).toBe(500);
  });
});

describe('pickKey', () => {
  const ready = (headroom: number): KeyView => ({ usable: true, readyAt: 0, headroom });
  it('takes the key with most headroom, ties in rotation order from the start', () => {
    expect(pickKey([ready(0.2), ready(0.9), ready(0.5)], 0, 0)).toEqual({ kind: 'key', index: 1 });
    expect(pickKey([ready(1), ready(1), ready(1)], 2, 0)).toEqual({ kind: 'key', index: 2 });
    expect(pickKey([ready(1), ready(1), ready(1)], 4, 0)).toEqual({ kind: 'key', index: 1 });
  });
  it('waits for the soonest key, or says none when no key can serve', () => {
    const later = (at: number): KeyView => ({ usable: true, readyAt: at, headroom: 0 });
    const dead: KeyView = { usable: false, readyAt: Number.POSITIVE_INFINITY, headroom: 0 };
    expect(pickKey([later(50), later(20), dead], 0, 10)).toEqual({ kind: 'wait', until: 20 });
    expect(pickKey([dead, dead], 0, 10)).toEqual({ kind: 'none' });
    expect(pickKey([later(Number.POSITIVE_INFINITY)], 0, 10)).toEqual({
      kind: 'wait',
      until: Number.POSITIVE_INFINITY,
    });
  });
});

describe('Budget', () => {
  it('sends only a few probes before the first answer says what the limits are', () => {
    const budget = new Budget(0);
    for (let i = 0; i < PROBE_IN_FLIGHT; i++) {
      expect(budget.readyAt(0, 1)).toBe(0);
      budget.take(0, 1);
    }
    expect(budget.readyAt(0, 1)).toBe(Number.POSITIVE_INFINITY);
    budget.settle(40, 1, undefined);
    expect(budget.readyAt(40, 1)).toBe(40);
  });

  it('learns the refill rate from limit, remaining and reset, and paces to it', () => {
    const budget = new Budget(0);
    const seq = budget.take(0, 1);
    // 10 per second: one used, full again in 100 ms.
    budget.settle(0, seq, { limitRequests: 10, remainingRequests: 9, resetRequestsMs: 100 });
    for (let i = 0; i < 9; i++) budget.take(0, 1);
    expect(budget.readyAt(0, 1)).toBeCloseTo(100, 5);
    expect(budget.readyAt(50, 1)).toBeCloseTo(100, 5);
    expect(budget.readyAt(100, 1)).toBe(100);
  });

  it('paces from configured rpm before any answer', () => {
    const budget = new Budget(0, { rpm: 60 });
    for (let i = 0; i < 60; i++) budget.take(0, 1);
    expect(budget.readyAt(0, 1)).toBeCloseTo(1000, 5);
  });

  it('waits out a 429 retry-after', () => {
    const budget = new Budget(0, { rpm: 600 });
    budget.rateLimited(0, 750);
    expect(budget.readyAt(10, 1)).toBeGreaterThanOrEqual(750);
  });

  it('lowers its estimate when the provider reports less remaining than it thought', () => {
    const budget = new Budget(0, { rpm: 600 });
    const seq = budget.take(0, 1);
    budget.settle(0, seq, { limitRequests: 600, remainingRequests: 0, resetRequestsMs: 60_000 });
    expect(budget.readyAt(0, 1)).toBeGreaterThan(0);
  });
});
