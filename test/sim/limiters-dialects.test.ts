/**
 * The header dialects and retry-after forms as pure functions of a limiter's state and the time;
 * the `limiter` / `headers` sections' defaults and validation.
 */
import { describe, expect, it } from 'vitest';
import { httpDate, limitHeaders, rateLimitedAnswer, retryAfter, rfc3339 } from '../../src/sim/dialects.js';
import { DEFAULT_HEADERS, resolveHeaders } from '../../src/sim/limiter-options.js';
import type { LimiterView, RateRefusal } from '../../src/sim/limiters/types.js';
import { resolveSimulatorOptions } from '../../src/sim/options.js';

const NOW = Date.UTC(2025, 0, 15, 14, 23, 0, 500);

const VIEW: LimiterView = {
  requests: { limit: 100, windowMs: 60_000, remaining: 50, resetMs: 29_500 },
  tokens: { limit: 10_000, windowMs: 60_000, remaining: 9000, resetMs: 6000 },
};

const REQUESTS_ONLY: LimiterView = { requests: VIEW.requests, tokens: null };

function headers(dialect: string, extra: Record<string, unknown> = {}) {
  return resolveHeaders({ dialect, ...extra }, 'headers', DEFAULT_HEADERS);
}

const REFUSAL: RateRefusal = {
  allowed: false,
  kind: 'requests',
  retryAfterMs: 1500,
  limit: 100,
  used: 100,
  requested: 1,
  tooLarge: false,
  windowMs: 60_000,
};

describe('limitHeaders', () => {
  it('openai: limit, remaining and reset as a duration per kind', () => {
    expect(limitHeaders(DEFAULT_HEADERS, VIEW, NOW)).toEqual({
      'x-ratelimit-limit-requests': '100',
      'x-ratelimit-remaining-requests': '50',
      'x-ratelimit-reset-requests': '29.5s',
      'x-ratelimit-limit-tokens': '10000',
      'x-ratelimit-remaining-tokens': '9000',
      'x-ratelimit-reset-tokens': '6s',
    });
  });

  it('openai with unknownValues: -1 and 0 for the chosen kinds', () => {
    expect(limitHeaders(headers('openai', { unknownValues: true }), VIEW, NOW)).toEqual({
      'x-ratelimit-limit-requests': '-1',
      'x-ratelimit-remaining-requests': '-1',
      'x-ratelimit-reset-requests': '0',
      'x-ratelimit-limit-tokens': '-1',
      'x-ratelimit-remaining-tokens': '-1',
      'x-ratelimit-reset-tokens': '0',
    });
    expect(limitHeaders(headers('azure', { unknownValues: 'requests' }), VIEW, NOW)).toEqual({
      'x-ratelimit-remaining-requests': '-1',
      'x-ratelimit-remaining-tokens': '9000',
    });
  });

  it('ietf: RateLimit-Policy and RateLimit lists of items, windows and resets in seconds', () => {
    expect(limitHeaders(headers('ietf'), REQUESTS_ONLY, NOW)).toEqual({
      'ratelimit-policy': '"default";q=100;w=60',
      ratelimit: '"default";r=50;t=30',
    });
    expect(limitHeaders(headers('ietf'), VIEW, NOW)).toEqual({
      'ratelimit-policy': '"default";q=100;w=60, "tokens";q=10000;w=60',
      ratelimit: '"default";r=50;t=30, "tokens";r=9000;t=6',
    });
  });

  it('ietf-legacy: one limit in RateLimit-Limit / -Remaining / -Reset, the requests one first', () => {
    const expected = {
      'ratelimit-limit': '100',
      'ratelimit-remaining': '50',
      'ratelimit-reset': '30',
      'ratelimit-policy': '100;w=60',
    };
    expect(limitHeaders(headers('ietf-legacy'), VIEW, NOW)).toEqual(expected);
    expect(limitHeaders(headers('ietf-legacy'), { requests: null, tokens: VIEW.tokens }, NOW)).toMatchObject({
      'ratelimit-limit': '10000',
      'ratelimit-reset': '6',
    });
  });

  it('anthropic: reset instants in RFC 3339, whole seconds rounded up', () => {
    expect(limitHeaders(headers('anthropic'), VIEW, NOW)).toEqual({
      'anthropic-ratelimit-requests-limit': '100',
      'anthropic-ratelimit-requests-remaining': '50',
      'anthropic-ratelimit-requests-reset': '2025-01-15T14:23:30Z',
      'anthropic-ratelimit-tokens-limit': '10000',
      'anthropic-ratelimit-tokens-remaining': '9000',
      'anthropic-ratelimit-tokens-reset': '2025-01-15T14:23:07Z',
    });
    expect(rfc3339(Date.UTC(2025, 0, 15, 14, 24, 0, 0))).toBe('2025-01-15T14:24:00Z');
  });

  it('none, and any dialect without limits: no headers', () => {
    expect(limitHeaders(headers('none'), VIEW, NOW)).toEqual({});
    for (const dialect of ['openai', 'azure', 'ietf', 'ietf-legacy', 'anthropic']) {
      expect(limitHeaders(headers(dialect), { requests: null, tokens: null }, NOW)).toEqual({});
    }
  });
});

describe('retry-after forms', () => {
  it.each([
    ['ms', { 'retry-after-ms': '1500', 'retry-after': '2' }],
    ['seconds', { 'retry-after': '2' }],
    ['date', { 'retry-after': 'Wed, 15 Jan 2025 14:23:02 GMT' }],
    ['none', {}],
  ] as const)('%s', (form, expected) => {
    expect(retryAfter(form, 1500, NOW)).toEqual(expected);
  });

  it('an HTTP date rounds up to the next second', () => {
    expect(httpDate(Date.UTC(1994, 10, 6, 8, 49, 36, 1))).toBe('Sun, 06 Nov 1994 08:49:37 GMT');
  });

  it('each dialect’s default form', () => {
    expect(headers('openai').retryAfter).toBe('ms');
    expect(headers('azure').retryAfter).toBe('ms');
    expect(headers('none').retryAfter).toBe('ms');
    expect(headers('ietf').retryAfter).toBe('seconds');
    expect(headers('ietf-legacy').retryAfter).toBe('seconds');
    expect(headers('anthropic').retryAfter).toBe('seconds');
  });
});

describe('rateLimitedAnswer', () => {
  it('openai: the real body and retry-after-ms', () => {
    const answer = rateLimitedAnswer(DEFAULT_HEADERS, REFUSAL, 'gpt-4o-mini', 'org-x', NOW);
    expect(answer.headers).toEqual({ 'retry-after-ms': '1500', 'retry-after': '2' });
    expect(answer.limitHeaders).toBe(true);
    expect(answer.body).toMatchObject({ error: { code: 'rate_limit_exceeded', type: 'requests' } });
  });

  it('bare429: no header at all', () => {
    const answer = rateLimitedAnswer(headers('openai', { bare429: true }), REFUSAL, 'm', 'o', NOW);
    expect(answer.headers).toEqual({});
    expect(answer.limitHeaders).toBe(false);
  });

  it('a request that can never fit gets no retry-after', () => {
    const tooLarge = { ...REFUSAL, tooLarge: true, retryAfterMs: Number.POSITIVE_INFINITY };
    expect(rateLimitedAnswer(headers('ietf'), tooLarge, 'm', 'o', NOW).headers).toEqual({});
  });

  it('anthropic and azure: their own error bodies', () => {
    expect(rateLimitedAnswer(headers('anthropic'), REFUSAL, 'm', 'org-x', NOW).body).toMatchObject({
      type: 'error',
      error: { type: 'rate_limit_error', message: expect.stringContaining('100 requests per minute') },
    });
    expect(rateLimitedAnswer(headers('azure'), REFUSAL, 'm', 'o', NOW).body).toMatchObject({
      error: { code: '429', message: expect.stringContaining('Please retry after 2 seconds') },
    });
  });
});

describe('sections', () => {
  it('keys inherit the simulator-wide sections and may replace them', () => {
    const resolved = resolveSimulatorOptions({
      keys: [{ key: 'sk-inherit-0001' }, { key: 'sk-own-0002', limiter: { kind: 'sliding' }, headers: {} }],
      limiter: { kind: 'fixed', settleTokens: true },
      headers: { dialect: 'ietf' },
    });
    expect(resolved.keys[0]?.limiter).toEqual({ kind: 'fixed', settleTokens: true });
    expect(resolved.keys[0]?.headers.dialect).toBe('ietf');
    expect(resolved.keys[1]?.limiter).toEqual({ kind: 'sliding', settleTokens: false });
    expect(resolved.keys[1]?.headers).toEqual(DEFAULT_HEADERS);
  });

  it('defaults keep the original behaviour: a bucket, openai headers, retry-after-ms', () => {
    const [key] = resolveSimulatorOptions({ keys: [{ key: 'sk-default-0001' }] }).keys;
    expect(key?.limiter).toEqual({ kind: 'bucket', enforceMs: undefined, settleTokens: false });
    expect(key?.headers).toEqual(DEFAULT_HEADERS);
    expect(key?.tokenWindowMs).toBe(60_000);
  });

  it.each([
    [{ bare429: 'yes' }, /`headers\.bare429` must be true or false/],
    [{ unknownValues: 'both' }, /`headers\.unknownValues` must be true, false, 'requests' or 'tokens'/],
    ['ietf', /`headers` must be an object/],
  ])('refuses headers %j', (value, message) => {
    expect(() => resolveHeaders(value, 'headers', DEFAULT_HEADERS)).toThrow(message);
  });
});
