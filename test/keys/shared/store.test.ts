/**
 * The shared pool's Redis side against a real redis-server: the domains' law shared by two
 * processes (one in-flight bound, one pause); the pool's domain store clamps what it reads from
 * Redis and goes local without it; key states where invalid beats exhausted; the salt created once
 * per namespace; unreachable at open.
 */
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { KeybatchError } from '../../../src/errors.js';
import { keyedHash } from '../../../src/keys/shared/naming.js';
import { RedisStore } from '../../../src/keys/shared/redis-store.js';
import { FULL_POLL, SharedDomainStore } from '../../../src/keys/shared/shared-domains.js';
import { useRedis } from '../../redis.js';

const redis = useRedis();
const open: RedisStore[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((store) => store.close()));
});
let namespaces = 0;
async function store(namespace = `ns${++namespaces}`): Promise<RedisStore> {
  const s = await RedisStore.open(redis().url, namespace);
  open.push(s);
  return s;
}

describe("the rate domains' law in Redis, shared by every process", () => {
  it('two processes share one in-flight bound and one pause', async () => {
    const a = await store('law');
    const b = await store('law');
    const domain = a.hash('group\u0000team');
    await a.law.open(domain, Date.now(), {});
    // The bound starts at 8 in flight (law.ts LAW.initialCap), counted over both processes.
    const seqs: number[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await (i % 2 ? b : a).law.reserve(domain, Date.now(), 1);
      expect(r.seq).toBeDefined();
      seqs.push(r.seq!);
    }
    expect(new Set(seqs).size).toBe(8);
    expect(await b.law.reserve(domain, Date.now(), 1)).toEqual({ waitMs: Number.POSITIVE_INFINITY });
    // One answer in a frees a place for the other.
    await a.law.answer(domain, Date.now(), { seq: seqs[0]!, status: 200, latencyMs: 30, headers: undefined });
    expect((await b.law.reserve(domain, Date.now(), 1)).seq).toBe(9);
    // A pause one process sets holds the other.
    await a.law.pause(domain, Date.now(), 3000);
    for (const seq of seqs.slice(1)) await b.law.cancel(domain, seq);
    const held = await b.law.reserve(domain, Date.now(), 1);
    expect(held.waitMs).toBeGreaterThan(2000);
    expect(held.waitMs).toBeLessThanOrEqual(3000);
  });
});

describe("a shared pool's domain store over Redis", () => {
  it('clamps a wait written into Redis to 24 h; asks a full domain again soon; goes local without Redis', async () => {
    const a = await store('clamp');
    const name = a.hash('key\u0000sk-shared-domains-0001');
    const domains = new SharedDomainStore(a, (domain) => (domain === 'd' ? name : undefined));
    domains.open('d', Date.now(), {});
    const first = await domains.reserve('d', Date.now(), 1);
    expect(first.seq).toBeGreaterThan(0);
    const client = new Redis(redis().url);
    try {
      const [state] = (await client.keys('keybatch:pool:clamp:law:{*}')).filter((key) => !key.includes('}:'));
      const [seconds] = await client.time();
      await client.hset(state!, 'pausedUntil', Number(seconds) * 1000 + 10 * 365 * 86_400_000);
    } finally {
      client.disconnect();
    }
    const paused = await domains.reserve('d', Date.now(), 1);
    expect(paused.waitMs).toBe(86_400_000);
    expect(domains.status('d', Date.now()).blockedUntil).toBeLessThanOrEqual(Date.now() + 86_400_000);
    await domains.unpause('d', Date.now());
    // Full (8 in flight, none answered, no latency known yet): asked again within FULL_POLL.
    for (let i = 0; i < 7; i++) expect((await domains.reserve('d', Date.now(), 1)).seq).toBeDefined();
    expect(await domains.reserve('d', Date.now(), 1)).toEqual({ waitMs: FULL_POLL.unknownMs });
    // Redis gone: this process's own law, its requests numbered below 0, answered here.
    await a.close();
    const local = await domains.reserve('d', Date.now(), 1);
    expect(local.seq).toBeLessThan(0);
    expect(
      await domains.answer('d', Date.now(), {
        seq: local.seq!,
        status: 200,
        latencyMs: 5,
        headers: undefined,
      }),
    ).toBe('served');
  });
});

describe('key states and the salt', () => {
  it('invalid beats exhausted, denied is per model, and a sync reads it all back', async () => {
    const a = await store();
    const key = a.hash('sk-some-test-key-xyz');
    await a.mark(key, 'invalid', { reason: 'rejected (401 invalid_api_key)' });
    await a.mark(key, 'exhausted', { reason: 'no quota left (429 insufficient_quota)' });
    await a.mark(key, 'denied', { model: 'gpt-4o' });
    const reply = await a.sync([{ hash: key, deltas: 'requests 3 e:invalid 1 cost 0.25' }]);
    expect(reply).toBeDefined();
    const fields = reply!.keys[0] as string[];
    const map = Object.fromEntries(fields.flatMap((v, i) => (i % 2 === 0 ? [[v, fields[i + 1]]] : [])));
    expect(map).toMatchObject({
      state: 'invalid',
      reason: 'rejected (401 invalid_api_key)',
      'denied:gpt-4o': '1',
      requests: '3',
      'e:invalid': '1',
      cost: '0.25',
    });
  });

  it('one salt per namespace, made once: the same key has the same name in every process', async () => {
    const a = await store('salted');
    const b = await store('salted');
    const c = await store('other');
    expect(a.hash('sk-same-key-0000')).toBe(b.hash('sk-same-key-0000'));
    expect(a.hash('sk-same-key-0000')).not.toBe(c.hash('sk-same-key-0000'));
    const client = new Redis(redis().url);
    try {
      const salt = await client.get('keybatch:pool:salted:salt');
      expect(a.hash('sk-same-key-0000')).toBe(keyedHash(salt!, 'sk-same-key-0000'));
      expect(await client.pttl('keybatch:pool:salted:salt')).toBeGreaterThan(0);
    } finally {
      client.disconnect();
    }
  });

  it('Redis unreachable at open: REDIS_UNREACHABLE naming the URL (no password) and why', async () => {
    const error = await RedisStore.open('redis://:hunter2secret@127.0.0.1:1', 'x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeybatchError);
    expect((error as KeybatchError).code).toBe('REDIS_UNREACHABLE');
    expect((error as Error).message).toMatch(/127\.0\.0\.1:1 .*ECONNREFUSED/);
    expect((error as Error).message).not.toContain('hunter2');
    expect((error as Error).message.split('\n')).toHaveLength(1);
  });
});
