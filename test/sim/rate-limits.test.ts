import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { chat, clientFor, rejectionOf, useSimulator } from './helpers.js';

const start = useSimulator();

describe('request rate limits', () => {
  it('answers 429 rate_limit_exceeded with retry-after-ms, retry-after and x-ratelimit headers', async () => {
    const s = await start({ keys: [{ key: 'sk-rl-requests-0001', requestsPerWindow: 2 }] });
    const client = clientFor(s, 'sk-rl-requests-0001');
    const first = await chat(client, 'a').withResponse();
    expect(first.response.headers.get('x-ratelimit-limit-requests')).toBe('2');
    expect(first.response.headers.get('x-ratelimit-remaining-requests')).toBe('1');
    expect(first.response.headers.get('x-ratelimit-reset-requests')).toMatch(/^(29\.\d+|30)s$/);
    expect(first.response.headers.get('x-ratelimit-limit-tokens')).toBeNull();
    await chat(client, 'b');

    const error = await rejectionOf(chat(client, 'c'));
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error['code']).toBe('rate_limit_exceeded');
    expect(error['type']).toBe('requests');
    expect(error.message).toMatch(
      /^429 Rate limit reached for gpt-4o-mini .* on requests per min \(RPM\): Limit 2/,
    );
    const headers = error['headers'] as Headers;
    const retryAfterMs = Number(headers.get('retry-after-ms'));
    // One request refills every 30 s.
    expect(retryAfterMs).toBeGreaterThan(29_000);
    expect(retryAfterMs).toBeLessThanOrEqual(30_000);
    expect(headers.get('retry-after')).toBe(String(Math.ceil(retryAfterMs / 1000)));
    expect(headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(headers.get('x-ratelimit-reset-requests')).toMatch(/^(59\.\d+s|1m0s)$/);
    expect(s.stats()).toMatchObject({ rateLimited: 1, byStatus: { '200': 2, '429': 1 } });
  });

  it('serves again once the bucket has refilled for one request', async () => {
    // One request refills every 1.5 s: three requests fit in that even on a loaded machine.
    const s = await start({ keys: [{ key: 'sk-rl-refill-0002', requestsPerWindow: 2, windowMs: 3000 }] });
    const client = clientFor(s, 'sk-rl-refill-0002');
    await chat(client, 'a');
    await chat(client, 'b');
    const error = await rejectionOf(chat(client, 'c'));
    const wait = Number((error['headers'] as Headers).get('retry-after-ms'));
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(1500);
    await new Promise((resolve) => setTimeout(resolve, wait + 5));
    await expect(chat(client, 'c')).resolves.toBeDefined();
  });

  it('omits x-ratelimit headers for a key without limits', async () => {
    const s = await start({ keys: [{ key: 'sk-rl-unlimited-0003' }] });
    const { response } = await chat(clientFor(s, 'sk-rl-unlimited-0003'), 'a').withResponse();
    expect([...response.headers.keys()].filter((name) => name.startsWith('x-ratelimit'))).toEqual([]);
  });
});

describe('token rate limits', () => {
  it('counts prompt characters / 4 plus max_tokens and refuses with type tokens', async () => {
    const s = await start({ keys: [{ key: 'sk-rl-tokens-0004', tokensPerWindow: 100 }] });
    const client = clientFor(s, 'sk-rl-tokens-0004');
    // 40 characters = 10 prompt tokens, + 50 max tokens = 60.
    const { response } = await chat(client, 'x'.repeat(40), { max_tokens: 50 }).withResponse();
    expect(response.headers.get('x-ratelimit-remaining-tokens')).toBe('40');
    expect(response.headers.get('x-ratelimit-limit-requests')).toBeNull();
    // Without max_tokens the estimate is 16: 10 + 16 = 26 fits in 40.
    const fits = await chat(client, 'y'.repeat(40)).withResponse();
    expect(fits.response.headers.get('x-ratelimit-remaining-tokens')).toBe('14');
    const error = await rejectionOf(chat(client, 'z'.repeat(40)));
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error['type']).toBe('tokens');
    expect(error['code']).toBe('rate_limit_exceeded');
    // 12 tokens are missing at 100 per minute: 7.2 s.
    expect(Number((error['headers'] as Headers).get('retry-after-ms'))).toBeGreaterThan(7000);
    expect((error['headers'] as Headers).get('retry-after')).toBe('8');
  });

  it('refuses a request larger than the whole token limit without a retry time', async () => {
    const s = await start({ keys: [{ key: 'sk-rl-large-0005', tokensPerWindow: 50 }] });
    const error = await rejectionOf(chat(clientFor(s, 'sk-rl-large-0005'), 'x'.repeat(400)));
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error.message).toContain('Request too large');
    expect((error['headers'] as Headers).get('retry-after-ms')).toBeNull();
  });
});

describe('groups', () => {
  it('keys of one group share one budget; other keys keep their own', async () => {
    const s = await start({
      keys: [
        { key: 'sk-group-a-0006', group: 'org-shared', requestsPerWindow: 2 },
        { key: 'sk-group-b-0007', group: 'org-shared', requestsPerWindow: 2 },
        { key: 'sk-solo-key-0008', requestsPerWindow: 2 },
      ],
    });
    await chat(clientFor(s, 'sk-group-a-0006'), 'a');
    await chat(clientFor(s, 'sk-group-b-0007'), 'b');
    const error = await rejectionOf(chat(clientFor(s, 'sk-group-a-0006'), 'c'));
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error.message).toContain('in organization org-shared');
    await expect(chat(clientFor(s, 'sk-group-b-0007'), 'd')).rejects.toBeInstanceOf(OpenAI.RateLimitError);
    await expect(chat(clientFor(s, 'sk-solo-key-0008'), 'e')).resolves.toBeDefined();
  });
});

describe('setKeys', () => {
  it('adds and removes keys live', async () => {
    const s = await start({ keys: [{ key: 'sk-live-old-0009' }] });
    const fresh = clientFor(s, 'sk-live-new-0010');
    await expect(chat(fresh, 'a')).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    s.setKeys([{ key: 'sk-live-new-0010' }]);
    await expect(chat(fresh, 'a')).resolves.toBeDefined();
    await expect(chat(clientFor(s, 'sk-live-old-0009'), 'a')).rejects.toBeInstanceOf(
      OpenAI.AuthenticationError,
    );
  });

  it('a key that stays keeps its used quota and its buckets; new limits apply at once', async () => {
    const s = await start({ keys: [{ key: 'sk-live-stay-0011', quota: 3, requestsPerWindow: 10 }] });
    const client = clientFor(s, 'sk-live-stay-0011');
    await chat(client, 'a');
    await chat(client, 'b');
    s.setKeys([{ key: 'sk-live-stay-0011', quota: 3, requestsPerWindow: 10 }, { key: 'sk-live-other-0012' }]);
    const { response } = await chat(client, 'c').withResponse();
    expect(response.headers.get('x-ratelimit-remaining-requests')).toBe('7');
    const error = await rejectionOf(chat(client, 'd'));
    expect(error['code']).toBe('insufficient_quota');

    // A lower limit caps what the bucket holds (7 left, capped at 1).
    s.setKeys([{ key: 'sk-live-stay-0011', quota: 5, requestsPerWindow: 1 }]);
    await chat(client, 'e');
    const limited = await rejectionOf(chat(client, 'f'));
    expect(limited['code']).toBe('rate_limit_exceeded');
  });

  it('validates the new key table and keeps the old one when it is invalid', async () => {
    const s = await start({ keys: [{ key: 'sk-live-valid-0013' }] });
    expect(() => s.setKeys([{ key: '' }])).toThrow(/keys\[0\]\.key/);
    await expect(chat(clientFor(s, 'sk-live-valid-0013'), 'still')).resolves.toBeDefined();
  });
});
