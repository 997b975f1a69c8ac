/**
 * The header dialects over real HTTP, through the real `openai` SDK (`maxRetries: 0`): what each
 * dialect sends on answers and on 429s, and the retry-after forms.
 */
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { chat, clientFor, exhaust, limitHeaderNames, rejectionOf, useSimulator } from './helpers.js';

const start = useSimulator();

const KEY = 'sk-limiter-http-0001';

describe('header dialects', () => {
  it('ietf: RateLimit-Policy and RateLimit structured fields, retry-after in seconds', async () => {
    const s = await start({
      keys: [
        {
          key: KEY,
          requestsPerWindow: 2,
          tokensPerWindow: 1000,
          limiter: { kind: 'fixed' },
          headers: { dialect: 'ietf' },
        },
      ],
    });
    const client = clientFor(s, KEY);
    const { response } = await chat(client, 'a').withResponse();
    expect(response.headers.get('ratelimit-policy')).toBe('"default";q=2;w=60, "tokens";q=1000;w=60');
    expect(response.headers.get('ratelimit')).toMatch(/^"default";r=1;t=(\d+), "tokens";r=\d+;t=\1$/);
    const t = Number(/t=(\d+)/.exec(response.headers.get('ratelimit') ?? '')?.[1]);
    expect(t).toBeGreaterThanOrEqual(1);
    expect(t).toBeLessThanOrEqual(60);
    expect(limitHeaderNames(response.headers)).toEqual(['ratelimit', 'ratelimit-policy']);

    const error = await exhaust(client, 1);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    const headers = error['headers'] as Headers;
    expect(headers.get('retry-after')).toMatch(/^\d+$/);
    expect(headers.get('retry-after-ms')).toBeNull();
    expect(headers.get('ratelimit')).toMatch(/^"default";r=0;t=\d+/);
  });

  it('ietf-legacy: RateLimit-Limit, -Remaining, -Reset and RateLimit-Policy: q;w=', async () => {
    const s = await start({
      keys: [{ key: KEY, requestsPerWindow: 5, windowMs: 10_000, headers: { dialect: 'ietf-legacy' } }],
    });
    const { response } = await chat(clientFor(s, KEY), 'a').withResponse();
    expect(response.headers.get('ratelimit-limit')).toBe('5');
    expect(response.headers.get('ratelimit-remaining')).toBe('4');
    // A bucket is full again 2 s after one request.
    expect(response.headers.get('ratelimit-reset')).toBe('2');
    expect(response.headers.get('ratelimit-policy')).toBe('5;w=10');
    expect(limitHeaderNames(response.headers)).toEqual([
      'ratelimit-limit',
      'ratelimit-policy',
      'ratelimit-remaining',
      'ratelimit-reset',
    ]);
  });

  it('anthropic: anthropic-ratelimit-* with RFC 3339 reset instants, its error body, retry-after in seconds', async () => {
    const s = await start({
      keys: [{ key: KEY, requestsPerWindow: 2, tokensPerWindow: 10_000, headers: { dialect: 'anthropic' } }],
    });
    const client = clientFor(s, KEY);
    const before = Date.now();
    const { response } = await chat(client, 'a').withResponse();
    expect(response.headers.get('anthropic-ratelimit-requests-limit')).toBe('2');
    expect(response.headers.get('anthropic-ratelimit-requests-remaining')).toBe('1');
    const reset = response.headers.get('anthropic-ratelimit-requests-reset') ?? '';
    expect(reset).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    // Full again 30 s after one of two requests per minute, rounded up to the second.
    expect(Date.parse(reset)).toBeGreaterThanOrEqual(before + 29_000);
    expect(Date.parse(reset)).toBeLessThanOrEqual(Date.now() + 31_000);
    expect(response.headers.get('anthropic-ratelimit-tokens-limit')).toBe('10000');
    expect(response.headers.get('anthropic-ratelimit-tokens-reset')).toMatch(/Z$/);
    expect(response.headers.get('x-ratelimit-limit-requests')).toBeNull();

    const error = await exhaust(client, 1);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error['type']).toBe('rate_limit_error');
    expect((error['error'] as { type: string }).type).toBe('rate_limit_error');
    const headers = error['headers'] as Headers;
    expect(Number(headers.get('retry-after'))).toBeGreaterThanOrEqual(29);
    expect(headers.get('retry-after-ms')).toBeNull();
    expect(headers.get('anthropic-ratelimit-requests-remaining')).toBe('0');
  });

  it('azure: only x-ratelimit-remaining-*, and Azure’s 429 body with code "429"', async () => {
    const s = await start({
      keys: [
        {
          key: KEY,
          requestsPerWindow: 1,
          tokensPerWindow: 5000,
          windowMs: 10_000,
          headers: { dialect: 'azure' },
        },
      ],
    });
    const client = clientFor(s, KEY);
    const { response } = await chat(client, 'a').withResponse();
    expect(limitHeaderNames(response.headers)).toEqual([
      'x-ratelimit-remaining-requests',
      'x-ratelimit-remaining-tokens',
    ]);
    expect(response.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    const error = await rejectionOf(chat(client, 'b'));
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error['code']).toBe('429');
    expect(error.message).toMatch(/exceeded call rate limit/);
    expect(Number((error['headers'] as Headers).get('retry-after-ms'))).toBeGreaterThan(0);
  });

  it('none: no rate-limit headers on answers; a 429 still carries retry-after-ms by default', async () => {
    const s = await start({ keys: [{ key: KEY, requestsPerWindow: 1, headers: { dialect: 'none' } }] });
    const client = clientFor(s, KEY);
    const { response } = await chat(client, 'a').withResponse();
    expect(limitHeaderNames(response.headers)).toEqual([]);
    const error = await rejectionOf(chat(client, 'b'));
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(limitHeaderNames(error['headers'] as Headers)).toEqual(['retry-after', 'retry-after-ms']);
  });

  it('bare429: a 429 without any header while answers keep theirs', async () => {
    const s = await start({ keys: [{ key: KEY, requestsPerWindow: 1, headers: { bare429: true } }] });
    const client = clientFor(s, KEY);
    const { response } = await chat(client, 'a').withResponse();
    expect(response.headers.get('x-ratelimit-limit-requests')).toBe('1');
    const error = await rejectionOf(chat(client, 'b'));
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error['code']).toBe('rate_limit_exceeded');
    expect(limitHeaderNames(error['headers'] as Headers)).toEqual([]);
  });

  it('unknownValues: Azure-style -1 / 0 values for the tokens, real values for requests', async () => {
    const s = await start({
      keys: [
        { key: KEY, requestsPerWindow: 10, tokensPerWindow: 1000, headers: { unknownValues: 'tokens' } },
      ],
    });
    const { response } = await chat(clientFor(s, KEY), 'a').withResponse();
    expect(response.headers.get('x-ratelimit-limit-tokens')).toBe('-1');
    expect(response.headers.get('x-ratelimit-remaining-tokens')).toBe('-1');
    expect(response.headers.get('x-ratelimit-reset-tokens')).toBe('0');
    expect(response.headers.get('x-ratelimit-limit-requests')).toBe('10');
    expect(response.headers.get('x-ratelimit-remaining-requests')).toBe('9');
  });
});

describe('retry-after forms', () => {
  it('seconds: retry-after only, whole seconds rounded up', async () => {
    const s = await start({
      keys: [{ key: KEY, requestsPerWindow: 1, windowMs: 5000, headers: { retryAfter: 'seconds' } }],
    });
    const error = await exhaust(clientFor(s, KEY), 1);
    const headers = error['headers'] as Headers;
    expect(headers.get('retry-after')).toBe('5');
    expect(headers.get('retry-after-ms')).toBeNull();
    expect(headers.get('x-ratelimit-remaining-requests')).toBe('0');
  });

  it('date: retry-after as an HTTP date no earlier than the wait', async () => {
    const s = await start({
      keys: [{ key: KEY, requestsPerWindow: 1, windowMs: 30_000, headers: { retryAfter: 'date' } }],
    });
    const before = Date.now();
    const error = await exhaust(clientFor(s, KEY), 1);
    const value = (error['headers'] as Headers).get('retry-after') ?? '';
    expect(value).toMatch(/^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$/);
    expect(Date.parse(value)).toBeGreaterThanOrEqual(before + 29_000);
    expect(Date.parse(value)).toBeLessThanOrEqual(Date.now() + 31_000);
    expect((error['headers'] as Headers).get('retry-after-ms')).toBeNull();
  });

  it('none: rate-limit headers but no retry-after', async () => {
    const s = await start({ keys: [{ key: KEY, requestsPerWindow: 1, headers: { retryAfter: 'none' } }] });
    const error = await exhaust(clientFor(s, KEY), 1);
    expect(limitHeaderNames(error['headers'] as Headers)).toEqual([
      'x-ratelimit-limit-requests',
      'x-ratelimit-remaining-requests',
      'x-ratelimit-reset-requests',
    ]);
  });
});
