/** The dashboard's pure parts: who gets in (token, Host) and the chart's points. */
import { describe, expect, it } from 'vitest';
import type { PoolStatus } from '../../src/keys/types.js';
import {
  allowedHost,
  cookieName,
  hasToken,
  newToken,
  readCookie,
  scrubKeyShapes,
} from '../../src/ui/security.js';
import { historyPoint, poolTotals } from '../../src/ui/summary.js';

describe('the gate', () => {
  const token = newToken();
  const url = (query: string) => new URL(`http://127.0.0.1:8123/api/summary${query}`);

  it('draws a fresh URL-safe token of 32 characters at every start', () => {
    expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(newToken()).not.toBe(token);
  });

  it('lets in the token from the query or from the port’s own cookie, nothing else', () => {
    expect(hasToken(url(`?token=${token}`), {}, token, 8123)).toBe(true);
    expect(hasToken(url(''), { cookie: `a=b; ${cookieName(8123)}=${token}` }, token, 8123)).toBe(true);
    expect(hasToken(url(''), {}, token, 8123)).toBe(false);
    expect(hasToken(url('?token='), {}, token, 8123)).toBe(false);
    expect(hasToken(url(`?token=${token.slice(0, -1)}`), {}, token, 8123)).toBe(false);
    expect(hasToken(url(`?token=${token}x`), {}, token, 8123)).toBe(false);
    // Another dashboard's cookie (another port) does not open this one.
    expect(hasToken(url(''), { cookie: `${cookieName(9000)}=${token}` }, token, 8123)).toBe(false);
    expect(readCookie(' x = 1 ;y=2', 'x')).toBe('1');
  });

  it('accepts only the loopback address and port it listens on as Host', () => {
    expect(allowedHost('127.0.0.1:8123', 8123)).toBe(true);
    expect(allowedHost('localhost:8123', 8123)).toBe(true);
    for (const host of [
      undefined,
      '',
      '127.0.0.1',
      '127.0.0.1:8124',
      'evil.example:8123',
      'localhost.evil:8123',
      '[::1]:8123',
    ]) {
      expect(allowedHost(host, 8123), String(host)).toBe(false);
    }
  });

  it('shows any key-shaped string as sk-…last4', () => {
    expect(scrubKeyShapes('use sk-proj-abcdefghijklmnop1234 now')).toBe('use sk-…1234 now');
    expect(scrubKeyShapes('sk-…1234 and sk-short stay')).toBe('sk-…1234 and sk-short stay');
  });
});

describe('the chart', () => {
  const pool = (successes: number, rateLimited: number, quota: number, invalid: number): PoolStatus => ({
    blocked: false,
    keys: [
      {
        key: 'a',
        state: 'ready',
        deniedModels: [],
        requests: 0,
        successes,
        inFlight: 0,
        errors: { rate_limit: rateLimited },
        tokens: 0,
      },
      {
        key: 'b',
        state: 'invalid',
        deniedModels: [],
        requests: 0,
        successes: 0,
        inFlight: 0,
        errors: { quota, invalid },
        tokens: 0,
      },
    ],
  });

  it('counts successes, 429s (rate limit and quota) and other errors per second between two reports', () => {
    const before = poolTotals(pool(10, 1, 0, 0), 1_000);
    const after = poolTotals(pool(30, 3, 2, 4), 3_000);
    expect(historyPoint(before, after)).toEqual({ t: 3, ok: 10, limited: 2, errors: 2 });
  });

  it('makes no point from two reports less than a second apart', () => {
    expect(
      historyPoint(poolTotals(pool(1, 0, 0, 0), 1_000), poolTotals(pool(5, 0, 0, 0), 1_500)),
    ).toBeUndefined();
  });
});
