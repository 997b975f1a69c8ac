/**
 * What the Redis store does beyond the law (the conformance test covers the law): it keeps numbers
 * exactly, runs on Redis's clock by default (processes whose clocks disagree share one schedule),
 * frees the places in flight of a process that died, and never writes a domain's name to Redis.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../../src/keys/domain/redis-store.js';
import { MemoryStore } from '../../../src/keys/domain/store.js';
import { parseLimits } from '../../../src/keys/pacing/dialects.js';
import { useRedis } from '../../redis.js';

const T0 = Date.UTC(2026, 11, 7, 12, 0, 0) + 0.123456789;

describe('RedisStore', () => {
  const redis = useRedis();
  let client: Redis;
  beforeAll(async () => {
    client = new Redis(redis().url, { maxRetriesPerRequest: 1 });
    await client.ping();
  });
  afterAll(() => client?.disconnect());

  it('keeps every number exactly: the pace after a cut is the in-memory store’s to the last bit', async () => {
    const memory = new MemoryStore();
    const store = new RedisStore(client, { clock: 'caller', namespace: 'exact' });
    const headers = parseLimits(
      {
        'x-ratelimit-limit-requests': '7',
        'x-ratelimit-remaining-requests': '3',
        'x-ratelimit-reset-requests': '1.337s',
      },
      T0,
    );
    let now = T0;
    for (const s of [memory, store]) await s.open('d', now, { tpm: 70_001 });
    for (let seq = 1; seq <= 6; seq++) {
      now += 1 / 3;
      expect(await store.reserve('d', now, 11)).toEqual(memory.reserve('d', now, 11));
    }
    now += 97.1;
    for (const [seq, status] of [
      [1, 200],
      [2, 200],
      [3, 429],
    ] as const) {
      const sample = { seq, status, latencyMs: 97.1 + seq / 7, headers };
      expect(await store.answer('d', now, sample)).toBe(memory.answer('d', now, sample));
    }
    const want = memory.status('d', now);
    expect(want.requestsPerMinute).not.toBe(Number.POSITIVE_INFINITY);
    expect(store.status('d', now)).toStrictEqual(want);
    expect(await store.reserve('d', now, 11)).toStrictEqual(memory.reserve('d', now, 11));
  });

  it('on Redis’s clock, processes whose clocks are hours apart share one pause and one schedule', async () => {
    const a = new RedisStore(client, { namespace: 'clock' });
    const b = new RedisStore(client, { namespace: 'clock' });
    const skew = 3 * 3_600_000;
    const nowA = () => Date.now();
    const nowB = () => Date.now() + skew;
    await a.open('d', nowA(), { rpm: 6 });
    // One request per 10 s (rpm 6): A takes the slot, B (3 h ahead) is told to wait about 10 s (a
    // generous 5 s for this test's own time on a busy machine).
    expect((await a.reserve('d', nowA(), 1)).seq).toBe(1);
    const waited = await b.reserve('d', nowB(), 1);
    expect(waited.waitMs).toBeGreaterThan(5_000);
    expect(waited.waitMs).toBeLessThanOrEqual(10_000);
    // B hears a retry-after of 60 s; A's next call sees the pause, on A's clock.
    await b.pause('d', nowB(), 60_000);
    const held = await a.reserve('d', nowA(), 1);
    expect(held.waitMs).toBeGreaterThan(55_000);
    expect(held.waitMs).toBeLessThanOrEqual(60_000);
    const blockedUntil = a.status('d', nowA()).blockedUntil ?? 0;
    expect(blockedUntil - nowA()).toBeGreaterThan(55_000);
    expect(blockedUntil - nowA()).toBeLessThanOrEqual(60_000);
  });

  it('on Redis’s clock, a reset instant heard by a process hours ahead gates the others as long as it said', async () => {
    const a = new RedisStore(client, { namespace: 'reset-instant' });
    const b = new RedisStore(client, { namespace: 'reset-instant' });
    const nowA = () => Date.now();
    const nowB = () => Date.now() + 3 * 3_600_000;
    const seq = (await b.reserve('d', nowB(), 1)).seq ?? 0;
    // Anthropic's reset is an instant (RFC 3339): 30 s from now on B's clock.
    const at = nowB();
    const reset = new Date(Math.ceil((at + 30_000) / 1000) * 1000).toISOString();
    const headers = parseLimits(
      {
        'anthropic-ratelimit-requests-limit': '50',
        'anthropic-ratelimit-requests-remaining': '0',
        'anthropic-ratelimit-requests-reset': reset,
      },
      at,
    );
    expect(headers?.requests?.resetAt).toBeDefined();
    await b.answer('d', at, { seq, status: 200, latencyMs: 40, headers });
    const held = await a.reserve('d', nowA(), 1);
    expect(held.waitMs).toBeGreaterThan(25_000);
    expect(held.waitMs).toBeLessThanOrEqual(31_100);
  });

  it('frees the places in flight of a process that died once its tickets are older than ticketTtlMs', async () => {
    const dead = new RedisStore(client, { clock: 'caller', namespace: 'tickets', ticketTtlMs: 60_000 });
    const alive = new RedisStore(client, { clock: 'caller', namespace: 'tickets', ticketTtlMs: 60_000 });
    await dead.open('d', T0);
    for (let i = 0; i < 8; i++) expect((await dead.reserve('d', T0, 1)).seq).toBe(i + 1);
    // The dead process never answers: the bound (8) is full for everyone until its tickets expire.
    expect(await alive.reserve('d', T0 + 59_000, 1)).toEqual({ waitMs: Number.POSITIVE_INFINITY });
    expect(await alive.reserve('d', T0 + 60_001, 1)).toEqual({ seq: 9 });
    expect(alive.status('d', T0 + 60_001).inFlight).toBe(1);
  });

  it('writes no domain name to Redis, only a hash of it', async () => {
    const secret = 'sk-proj-DOMAIN-NAME-THAT-IS-A-KEY-0123456789abcdef';
    const store = new RedisStore(client, { clock: 'caller', namespace: 'private' });
    await store.open(secret, T0, { rpm: 600 });
    const seq = (await store.reserve(secret, T0, 1)).seq ?? 0;
    await store.answer(secret, T0 + 50, { seq, status: 429, latencyMs: 50, headers: undefined });
    const dump = await redis().dump();
    expect(dump.some((entry) => entry.key.includes(':private:'))).toBe(true);
    for (const { key, value } of dump) {
      expect(key).not.toContain('sk-');
      expect(value).not.toContain('sk-');
    }
  });

  it('refuses a namespace that is not a plain word, naming it', () => {
    expect(() => new RedisStore(client, { namespace: 'a b' })).toThrow(/shared\.namespace.*"a b"/);
  });
});
