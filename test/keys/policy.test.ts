import { describe, expect, it } from 'vitest';
import { backoffDelay, RETRY_DEFAULTS } from '../../src/keys/backoff.js';
import { classifyStatus } from '../../src/keys/classify.js';
import { parseLimits } from '../../src/keys/pacing/dialects.js';
import {
  MAX_WAIT_MS as MAX_SERVER_WAIT_MS,
  parseDuration as parseResetDuration,
} from '../../src/keys/pacing/durations.js';
import { type KeyView, pickKey } from '../../src/keys/select.js';
import { blockedThreshold, judgeWait, MAX_TIMER_MS, timerDelay } from '../../src/keys/stops.js';

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
    const limits = parseLimits(
      new Headers({
        'x-ratelimit-limit-requests': '500',
        'x-ratelimit-remaining-requests': '499',
        'x-ratelimit-reset-requests': '120ms',
        'x-ratelimit-limit-tokens': '-1',
        'x-ratelimit-remaining-tokens': '',
        'retry-after': '2',
      }),
      Date.now(),
    );
    expect(limits).toMatchObject({
      requests: { limit: 500, remaining: 499, resetMs: 120 },
      retryAfterMs: 2000,
    });
    expect(limits?.tokens).toBeUndefined();
    expect(
      parseLimits(new Headers({ 'retry-after-ms': '250', 'retry-after': '9' }), Date.now())?.retryAfterMs,
    ).toBe(250);
  });
});

describe('waits a server asks for are clamped to 24 h', () => {
  const now = Date.UTC(2026, 0, 1);
  const retryAfter = (headers: Record<string, string>) =>
    parseLimits(new Headers(headers), now)?.retryAfterMs;
  it.each([
    [{ 'retry-after': '1000000000' }, MAX_SERVER_WAIT_MS],
    [{ 'retry-after': '1e9' }, MAX_SERVER_WAIT_MS],
    [{ 'retry-after': '9'.repeat(400) }, MAX_SERVER_WAIT_MS],
    [{ 'retry-after-ms': '1000000000000' }, MAX_SERVER_WAIT_MS],
    [{ 'retry-after-ms': 'Infinity' }, MAX_SERVER_WAIT_MS],
    [{ 'retry-after': new Date(now + 3 * MAX_SERVER_WAIT_MS).toUTCString() }, MAX_SERVER_WAIT_MS],
    [{ 'retry-after': new Date(now + 60_000).toUTCString() }, 60_000],
    [{ 'retry-after': new Date(now - 60_000).toUTCString() }, 0],
    [{ 'retry-after': '2' }, 2000],
    [{ 'retry-after-ms': '-5' }, undefined],
    [{ 'retry-after': 'NaN' }, undefined],
  ])('retry-after %j is %s ms', (headers, ms) => {
    expect(retryAfter(headers)).toBe(ms);
  });
  it.each([
    ['99999999h', MAX_SERVER_WAIT_MS],
    ['1000000000', MAX_SERVER_WAIT_MS],
    ['25h', MAX_SERVER_WAIT_MS],
    ['23h59m', 86_340_000],
  ])('reset duration %j is %s ms', (text, ms) => {
    expect(parseResetDuration(text)).toBe(ms);
  });
});

describe('judgeWait: when a wait is pacing, blocked, or a stop', () => {
  const now = 1_000_000;
  it('a wait within 30 s (or the wait timeout) is quiet; an answer in flight is never blocked', () => {
    expect(judgeWait({ kind: 'wait', until: now + 29_000 }, now, undefined, Infinity)).toEqual({
      blocked: false,
      giveUp: false,
      until: now + 29_000,
      wakeAt: now + 29_000,
    });
    expect(judgeWait({ kind: 'wait', until: Infinity, pending: true }, now, undefined, 0)).toMatchObject({
      blocked: false,
      giveUp: false,
    });
    expect(judgeWait({ kind: 'wait', until: now + 90_000, pending: true }, now, undefined, 0).blocked).toBe(
      false,
    );
  });
  it('a wait past 30 s is blocked; past the wait timeout it stops at once', () => {
    expect(judgeWait({ kind: 'wait', until: now + 31_000 }, now, undefined, Infinity)).toEqual({
      blocked: true,
      giveUp: false,
      until: now + 31_000,
      wakeAt: now + 31_000,
    });
    expect(judgeWait({ kind: 'wait', until: now + 86_400_000 }, now, undefined, 2000)).toEqual({
      blocked: true,
      giveUp: true,
      until: now + 86_400_000,
      wakeAt: now + 2000,
    });
    // Blocked for 50 s of a 60 s timeout: a key 20 s away cannot come in time.
    expect(judgeWait({ kind: 'wait', until: now + 20_000 }, now, now - 50_000, 60_000)).toMatchObject({
      blocked: true,
      giveUp: true,
    });
    expect(judgeWait({ kind: 'wait', until: now + 5_000 }, now, now - 50_000, 60_000)).toMatchObject({
      blocked: false,
      giveUp: false,
    });
  });
  it('the threshold is the wait timeout when shorter, but never under 1 s', () => {
    expect(blockedThreshold(Infinity)).toBe(30_000);
    expect(blockedThreshold(5000)).toBe(5000);
    expect(blockedThreshold(0)).toBe(1000);
    expect(judgeWait({ kind: 'wait', until: now + 6000 }, now, undefined, 5000)).toMatchObject({
      blocked: true,
      giveUp: true,
    });
  });
  it('no key without a config edit: blocked, and a stop once the wait timeout has passed', () => {
    expect(judgeWait({ kind: 'none' }, now, undefined, 300)).toEqual({
      blocked: true,
      giveUp: false,
      until: Infinity,
      wakeAt: now + 300,
    });
    expect(judgeWait({ kind: 'none' }, now, now - 300, 300).giveUp).toBe(true);
    expect(judgeWait({ kind: 'none' }, now, undefined, Infinity).wakeAt).toBe(Infinity);
  });
  it('timer delays are never negative and never past what a Node.js timer takes', () => {
    expect(timerDelay(now - 5, now)).toBe(0);
    expect(timerDelay(now + 10.2, now)).toBe(11);
    expect(timerDelay(now + 1e12, now)).toBe(MAX_TIMER_MS);
    expect(MAX_TIMER_MS).toBe(2 ** 31 - 1);
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
    // A budget still learning its limits waits for an answer in flight: `pending`, not a time.
    expect(pickKey([later(Number.POSITIVE_INFINITY)], 0, 10)).toEqual({
      kind: 'wait',
      until: Number.POSITIVE_INFINITY,
      pending: true,
    });
    expect(pickKey([later(Number.POSITIVE_INFINITY), later(90_000)], 0, 10)).toEqual({
      kind: 'wait',
      until: 90_000,
      pending: true,
    });
  });
});
