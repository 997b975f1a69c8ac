/**
 * The shared pool's Redis scripts against a real redis-server: a domain's schedule hands out one
 * slot per cost and refuses past how far ahead a slot may be; a pause and a refund; key states
 * where invalid beats exhausted; the salt created once per namespace; unreachable at open.
 */
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { KeybatchError } from '../../../src/errors.js';
import { keyedHash } from '../../../src/keys/shared/naming.js';
import { RedisStore } from '../../../src/keys/shared/redis-store.js';
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

describe('the shared schedule of a domain', () => {
  it('hands out back-to-back slots of each cost, across stores, and refuses past the horizon', async () => {
    const a = await store('sched');
    const b = await store('sched');
    const first = await a.reserve('d1', 100, 1000);
    const second = await b.reserve('d1', 100, 1000);
    const third = await a.reserve('d1', 100, 1000);
    expect(first.granted && second.granted && third.granted).toBe(true);
    if (!first.granted || !second.granted || !third.granted || 'local' in first) throw new Error('granted');
    if ('local' in second || 'local' in third) throw new Error('not local');
    expect(second.at - first.at).toBe(100);
    expect(third.at - second.at).toBe(100);
    // 8 more fill the next second; the next is refused with how long until one may be asked for.
    for (let i = 0; i < 8; i++) expect((await b.reserve('d1', 100, 1000)).granted).toBe(true);
    const refused = await a.reserve('d1', 100, 1000);
    expect(refused.granted).toBe(false);
    if (refused.granted) throw new Error('refused');
    expect(refused.retryMs).toBeGreaterThan(0);
    expect(refused.retryMs).toBeLessThanOrEqual(200);
  });

  it('a refund gives back only the last slot; a pause holds every slot until it ends', async () => {
    const a = await store();
    const one = await a.reserve('d', 50, 5000);
    const two = await a.reserve('d', 50, 5000);
    if (!one.granted || !two.granted || 'local' in one || 'local' in two) throw new Error('granted');
    await a.refund('d', one.at, 50); // not the last: nothing moves
    const three = await a.reserve('d', 50, 5000);
    if (!three.granted || 'local' in three) throw new Error('granted');
    expect(three.at - two.at).toBe(50);
    await a.refund('d', three.at, 50); // the last: its place is free again
    const again = await a.reserve('d', 50, 5000);
    if (!again.granted || 'local' in again) throw new Error('granted');
    expect(again.at).toBe(three.at);

    await a.pause('p', 3000);
    const paused = await a.reserve('p', 10, 1000);
    expect(paused.granted).toBe(false);
    if (paused.granted) throw new Error('refused');
    expect(paused.retryMs).toBeGreaterThan(1500);
    const later = await a.reserve('p', 10, 5000);
    expect(later.granted && later.delayMs).toBeGreaterThan(2500);
  });
});

describe('key states and the salt', () => {
  it('invalid beats exhausted, denied is per model, and a sync reads it all back', async () => {
    const a = await store();
    const key = a.hash('sk-some-test-key-xyz');
    await a.mark(key, 'invalid', { reason: 'rejected (401 invalid_api_key)' });
    await a.mark(key, 'exhausted', { reason: 'no quota left (429 insufficient_quota)' });
    await a.mark(key, 'denied', { model: 'gpt-4o' });
    const reply = await a.sync([{ hash: key, deltas: 'requests 3 e:invalid 1 cost 0.25' }], []);
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
