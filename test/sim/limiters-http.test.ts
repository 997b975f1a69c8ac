/**
 * The limiter models over real HTTP, through the real `openai` SDK (`maxRetries: 0`): enforcement
 * over a shorter period, per-day requests beside per-minute tokens, sliding resets, tokens settled
 * to actual usage, the slots model's 503 and queue order, stats per group, validation.
 */
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { type SimulatorOptions, startSimulator } from '../../src/sim/index.js';
import { chat, clientFor, exhaust, limitHeaderNames, rejectionOf, useSimulator } from './helpers.js';

const start = useSimulator();

const KEY = 'sk-limiter-http-0001';

describe('limiter models over HTTP', () => {
  it('bucket with enforceMs: a per-minute limit enforced per second refuses a burst the headers allow', async () => {
    const s = await start({
      keys: [
        { key: KEY, requestsPerWindow: 120, windowMs: 60_000, limiter: { kind: 'bucket', enforceMs: 1000 } },
      ],
    });
    const client = clientFor(s, KEY);
    const { response } = await chat(client, 'a').withResponse();
    expect(response.headers.get('x-ratelimit-remaining-requests')).toBe('119');
    await chat(client, 'b');
    const error = await rejectionOf(chat(client, 'c'));
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error.message).toContain('on requests per 1s');
    expect(Number((error['headers'] as Headers).get('retry-after-ms'))).toBeLessThanOrEqual(500);
    expect(Number((error['headers'] as Headers).get('x-ratelimit-remaining-requests'))).toBeGreaterThan(100);
  });

  it('groq: requests counted per day beside tokens per minute', async () => {
    const s = await start({
      keys: [
        {
          key: KEY,
          requestsPerWindow: 3,
          windowMs: 86_400_000,
          tokensPerWindow: 6000,
          tokenWindowMs: 60_000,
          headers: { retryAfter: 'seconds' },
        },
      ],
    });
    const client = clientFor(s, KEY);
    const { response } = await chat(client, 'x'.repeat(40), { max_tokens: 50 }).withResponse();
    expect(response.headers.get('x-ratelimit-limit-requests')).toBe('3');
    // One of three requests per day is back in 8 hours.
    expect(response.headers.get('x-ratelimit-reset-requests')).toMatch(/^(7h59m59\.\d+s|8h0m0s)$/);
    expect(response.headers.get('x-ratelimit-remaining-tokens')).toBe('5940');
    // 60 of 6000 tokens per minute are back in 600 ms.
    expect(response.headers.get('x-ratelimit-reset-tokens')).toMatch(/^(59\dms|600ms)$/);
    const error = await exhaust(client, 2);
    expect(error.message).toContain('on requests per day (RPD): Limit 3, Used 3');
    expect(Number((error['headers'] as Headers).get('retry-after'))).toBeGreaterThan(28_000);
  });

  it('sliding: reset is the time until the oldest counted request leaves the window', async () => {
    const s = await start({
      keys: [{ key: KEY, requestsPerWindow: 2, windowMs: 60_000, limiter: { kind: 'sliding' } }],
    });
    const client = clientFor(s, KEY);
    const { response } = await chat(client, 'a').withResponse();
    expect(response.headers.get('x-ratelimit-remaining-requests')).toBe('1');
    expect(response.headers.get('x-ratelimit-reset-requests')).toMatch(/^(59\.\d+s|1m0s)$/);
    const error = await exhaust(client, 1);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(Number((error['headers'] as Headers).get('retry-after-ms'))).toBeGreaterThan(58_000);
  });

  it('settleTokens: tokens charged as prompt + max_tokens, settled to the actual usage when answered', async () => {
    const settled = await start({
      keys: [
        {
          key: KEY,
          tokensPerWindow: 100,
          windowMs: 3_600_000,
          limiter: { kind: 'bucket', settleTokens: true },
        },
      ],
    });
    const client = clientFor(settled, KEY);
    // 40 characters = 10 prompt tokens + 50 max tokens = 60 charged; the answer uses 10 + 12.
    const first = await chat(client, 'x'.repeat(40), { max_tokens: 50 }).withResponse();
    expect(first.response.headers.get('x-ratelimit-remaining-tokens')).toBe('40');
    expect(first.data.usage?.total_tokens).toBe(22);
    // 100 - 22 - 60 = 18: fits only because the first request was settled.
    const second = await chat(client, 'y'.repeat(40), { max_tokens: 50 }).withResponse();
    expect(second.response.headers.get('x-ratelimit-remaining-tokens')).toBe('18');
  });

  it('without settleTokens the same two requests exceed the token limit', async () => {
    const s = await start({ keys: [{ key: KEY, tokensPerWindow: 100, windowMs: 3_600_000 }] });
    const client = clientFor(s, KEY);
    await chat(client, 'x'.repeat(40), { max_tokens: 50 });
    const error = await rejectionOf(chat(client, 'y'.repeat(40), { max_tokens: 50 }));
    expect(error['type']).toBe('tokens');
  });

  it('slots: one served, one queued behind it for up to twice the service time, one more answered 503', async () => {
    const serviceMs = 2500;
    const s = await start({
      keys: [{ key: KEY }],
      limiter: { kind: 'slots', slots: 1, queue: 1, serviceMs },
    });
    const client = clientFor(s, KEY);
    // In the order they are answered: the latency the server reports, or the error status.
    const answered: string[] = [];
    const send = (text: string) =>
      chat(client, text)
        .withResponse()
        .then(
          ({ response }) => {
            expect(limitHeaderNames(response.headers)).toEqual([]);
            answered.push(response.headers.get('openai-processing-ms') ?? '');
          },
          (error: Error & { status?: number }) => {
            answered.push(`status ${error.status}`);
          },
        );
    await Promise.all([send('a'), send('b'), send('c')]);
    // The 503 answers at once, then the served request, then the one queued behind it.
    expect(answered[0]).toBe('status 503');
    expect(answered[1]).toBe(String(serviceMs));
    expect(Number(answered[2])).toBeGreaterThan(serviceMs);
    expect(Number(answered[2])).toBeLessThanOrEqual(2 * serviceMs);
    expect(s.stats().byGroup).toEqual({
      'sk-…0001': {
        limiter: 'slots',
        admitted: 2,
        // 'a' and 'b' or 'c': 1 prompt token + 2 for `echo: x`, each.
        tokens: 6,
        rateLimited: 0,
        unavailable: 1,
        peakPerSecond: 1000 / serviceMs,
      },
    });
  });

  it('a slots 503 is the server-busy error of an OpenAI-compatible server', async () => {
    const s = await start({
      keys: [{ key: KEY, limiter: { kind: 'slots', slots: 1, queue: 0, serviceMs: 2000 } }],
    });
    const client = clientFor(s, KEY);
    const results = await Promise.allSettled([chat(client, 'a'), chat(client, 'b')]);
    const refused = results.find((r) => r.status === 'rejected');
    expect(refused?.status === 'rejected' && refused.reason).toBeInstanceOf(OpenAI.InternalServerError);
    const error = (refused as PromiseRejectedResult).reason as Error & { status: number };
    expect(error.status).toBe(503);
    expect(error.message).toContain('server busy');
  });
});

describe('batching over HTTP', () => {
  it('latency grows with the requests running, the rest wait in the queue, one more is answered 503', async () => {
    const s = await start({
      keys: [{ key: KEY }],
      limiter: { kind: 'batching', slots: 2, queue: 1, baseMs: 1000, perRunningMs: 500 },
    });
    const client = clientFor(s, KEY);
    const { response: alone } = await chat(client, 'alone').withResponse();
    // Alone in the batch: 1000 + 500 × 1.
    expect(alone.headers.get('openai-processing-ms')).toBe('1500');
    const answered: Array<number | string> = [];
    const send = (text: string) =>
      chat(client, text)
        .withResponse()
        .then(
          ({ response }) => {
            expect(limitHeaderNames(response.headers)).toEqual([]);
            answered.push(Number(response.headers.get('openai-processing-ms')));
          },
          (error: Error & { status?: number }) => answered.push(`status ${error.status}`),
        );
    await Promise.all([send('a'), send('b'), send('c'), send('d')]);
    // At once: the 503 (queue full); then 1500 (alone), 2000 (beside the first), then the queued one,
    // which waits for the first slot and runs beside the second: more than 1000 + 500 × 2.
    expect(answered[0]).toBe('status 503');
    expect(answered.slice(1, 3)).toEqual([1500, 2000]);
    expect(answered[3]).toBeGreaterThan(2000);
    expect(answered[3]).toBeLessThanOrEqual(1500 + 2000);
    expect(s.stats().byGroup?.['sk-…0001']).toMatchObject({
      limiter: 'batching',
      admitted: 4,
      unavailable: 1,
      // 2 slots full: 2 × 1000 / (1000 + 500 × 2).
      peakPerSecond: 1,
    });
  });
});

describe('stats per group', () => {
  it('counts the admitted and refused model requests of a group, its tokens and its peak rate', async () => {
    const spec = {
      group: 'org-a',
      requestsPerWindow: 2,
      windowMs: 3_600_000,
      limiter: { kind: 'sliding' },
    } as const;
    const s = await start({
      keys: [
        { key: 'sk-group-one-0001', ...spec },
        { key: 'sk-group-two-0002', ...spec },
      ],
    });
    const one = clientFor(s, 'sk-group-one-0001');
    // Not a model request: no limiter, not counted.
    await one.models.list();
    const a = await chat(one, 'a');
    const b = await chat(clientFor(s, 'sk-group-two-0002'), 'b');
    await expect(chat(one, 'c')).rejects.toBeInstanceOf(OpenAI.RateLimitError);
    expect(s.stats().byGroup).toEqual({
      'org-a': {
        limiter: 'sliding',
        admitted: 2,
        tokens: (a.usage?.total_tokens ?? 0) + (b.usage?.total_tokens ?? 0),
        rateLimited: 1,
        unavailable: 0,
        peakPerSecond: 2000 / 3_600_000,
      },
    });
  });
});

describe('simulator-wide sections', () => {
  it('setKeys gives new keys the simulator-wide limiter and headers', async () => {
    const s = await start({ keys: [{ key: KEY }], headers: { dialect: 'none' }, limiter: { kind: 'fixed' } });
    s.setKeys([{ key: 'sk-limiter-new-0002', requestsPerWindow: 5, windowMs: 1000 }]);
    const { response } = await chat(clientFor(s, 'sk-limiter-new-0002'), 'a').withResponse();
    expect(limitHeaderNames(response.headers)).toEqual([]);
    expect(s.stats().byGroup?.['sk-…0002']?.limiter).toBe('fixed');
  });
});

describe('validation', () => {
  it.each([
    [{ keys: [{ key: KEY, limiter: { kind: 'sliding', windo: 5 } }] }, /`keys\[0\]\.limiter\.windo`/],
    [
      { keys: [{ key: KEY, limiter: { kind: 'leaky' } }] },
      /`keys\[0\]\.limiter\.kind`.*'bucket', 'sliding', 'fixed', 'slots', 'batching'/,
    ],
    [{ keys: [{ key: KEY, headers: { dialect: 'ietf', extra: true } }] }, /`keys\[0\]\.headers\.extra`/],
    [{ keys: [{ key: KEY, headers: { dialect: 'aws' } }] }, /`keys\[0\]\.headers\.dialect`/],
    [{ keys: [{ key: KEY, headers: { retryAfter: 'minutes' } }] }, /`keys\[0\]\.headers\.retryAfter`/],
    [
      { keys: [{ key: KEY }], limiter: { kind: 'slots', slots: 0 } },
      /`limiter\.slots` must be an integer >= 1/,
    ],
    [
      { keys: [{ key: KEY }], limiter: { kind: 'bucket', queue: 3 } },
      /`limiter\.queue` is not an option of kind 'bucket'/,
    ],
    [
      { keys: [{ key: KEY, requestsPerWindow: 5, limiter: { kind: 'slots' } }] },
      /`keys\[0\]\.requestsPerWindow`.*slots/,
    ],
    [
      { keys: [{ key: KEY, tokensPerWindow: 5, limiter: { kind: 'batching', perRunningMs: 1 } }] },
      /`keys\[0\]\.tokensPerWindow`.*'batching'/,
    ],
    [
      { keys: [{ key: KEY }], limiter: { kind: 'batching', slots: 64 } },
      /`limiter\.perRunningMs` must be a finite number >= 0, got `undefined`/,
    ],
  ])('refuses %j naming the field', async (options, message) => {
    await expect(startSimulator(options as unknown as SimulatorOptions)).rejects.toThrow(message);
  });
});
