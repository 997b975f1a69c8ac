/**
 * The shared pool's Redis scripts against a real redis-server: a domain's schedule hands out one
 * slot per cost and refuses past how far ahead a slot may be; a pause and a refund; the run of
 * losses, slow start's cut and the probe shared by every process; key states
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
    expect(third.slots).toBe(3);
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

describe("a domain's run of losses, over every process", () => {
  const loss = (ms: number, baseMs = 200, capMs = 60_000) => ({ ms, baseMs, capMs });
  const at = async (s: RedisStore, domain: string) => {
    const slot = await s.reserve(domain, 10, 5000, 10_000, 250);
    if (!slot.granted || 'local' in slot) throw new Error('granted');
    return slot;
  };

  it('the second loss event pauses every process; one probe goes; its refusal doubles; its answer frees the domain', async () => {
    const a = await store('run');
    const b = await store('run');
    const first = await at(a, 'd');
    // The first loss event of the domain: counted, no pause (observed pacing cuts its rate).
    expect(await a.loss('d', first.at, loss(0), false, 300)).toMatchObject({ run: 1, pausedMs: 0 });
    // Another process's refusal of a request sent before it could know: the same event.
    expect(await b.loss('d', first.at + 100, loss(0), false, 300)).toMatchObject({ run: 1, pausedMs: 0 });
    await new Promise((resolve) => setTimeout(resolve, 350));
    const later = await at(b, 'd');
    const second = await b.loss('d', later.at, loss(0), false, 300);
    expect(second).toMatchObject({ run: 2 });
    expect(second!.pausedMs).toBeGreaterThan(150);
    expect(second!.pausedMs).toBeLessThanOrEqual(200);
    // The next slot is the probe, after the pause; while it is out, no other slot is given.
    const probe = await at(a, 'd');
    expect(probe.probe).toBe(true);
    expect(probe.delayMs).toBeGreaterThan(100);
    const held = await b.reserve('d', 10, 5000, 10_000, 250);
    expect(held.granted).toBe(false);
    if (held.granted) throw new Error('refused');
    expect(held.retryMs).toBeLessThanOrEqual(250);
    // The probe refused: the run goes on (400 ms now), and the next slot is a probe again.
    const third = await a.loss('d', probe.at, loss(0), true, 300);
    expect(third).toMatchObject({ run: 3 });
    expect(third!.pausedMs).toBeGreaterThan(300);
    const again = await at(b, 'd');
    expect(again.probe).toBe(true);
    // Served: the run is over and every process sends again.
    await b.served('d', again.at, true);
    const free = await at(a, 'd');
    expect(free.probe).toBe(false);
    expect(await a.loss('d', free.at + 1000, loss(0), false, 300)).toMatchObject({ run: 1 });
  });

  it('a pause is never more than the cap, nor less than the process asked; an unanswered probe frees the domain', async () => {
    const a = await store('cap');
    const b = await store('cap');
    await a.loss('c', 1, loss(0, 1000, 400), false, 0);
    const capped = await a.loss('c', 1_000_000_000_000_000, loss(0, 1000, 400), false, 0);
    expect(capped).toMatchObject({ run: 2 });
    expect(capped!.pausedMs).toBeGreaterThan(300);
    expect(capped!.pausedMs).toBeLessThanOrEqual(400);
    const own = await a.loss('o', 1, loss(900, 100), false, 0);
    expect(own!.pausedMs).toBeGreaterThan(800);

    await a.loss('e', 1, loss(0, 1), false, 0);
    await a.loss('e', 1_000_000_000_000_000, loss(0, 1), false, 0);
    await new Promise((resolve) => setTimeout(resolve, 10));
    const unanswered = await a.reserve('e', 10, 5000, 1, 250);
    if (!unanswered.granted || 'local' in unanswered) throw new Error('granted');
    expect(unanswered.probe).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const expired = await b.reserve('e', 10, 5000, 1, 250);
    if (!expired.granted || 'local' in expired) throw new Error('granted');
    expect(expired.probe).toBe(true);
  });
});

describe("a slow start's end and an unsent probe, over every process", () => {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const cut = (cutPerMinute: number) => ({ ms: 0, baseMs: 500, capMs: 60_000, cutPerMinute });
  const slot = async (s: RedisStore, domain: string, freshMs: number) => {
    const reserved = await s.reserve(domain, 10, 5000, 10_000, 250, freshMs);
    if (!reserved.granted || 'local' in reserved) throw new Error('granted');
    return reserved;
  };

  it('the lowest cut of the loss event goes out with every slot while fresh, and no slot costs less than its interval', async () => {
    const a = await store('cut');
    const b = await store('cut');
    const first = await slot(a, 'd', 60_000);
    expect(first.cut).toBeUndefined();
    await a.loss('d', first.at, cut(90), false, 100);
    // The same loss event seen by two more processes: the lowest of their cuts is the domain's.
    await b.loss('d', first.at + 5, cut(60), false, 100);
    await b.loss('d', first.at + 6, cut(120), false, 100);
    const one = await slot(b, 'd', 60_000);
    const two = await slot(a, 'd', 60_000);
    expect([one.cut, two.cut]).toEqual([60, 60]);
    expect(two.at - one.at).toBe(1000); // 60000 / 60, not the 10 asked for
    // A slot about to go asks again (CHECK): the cut, and a pause set since.
    expect(await a.check('d', 60_000)).toEqual({ pausedMs: 0, cut: 60 });
    await b.pause('d', 3000);
    const checked = await a.check('d', 60_000);
    expect(checked!.pausedMs).toBeGreaterThan(2000);
    expect(checked!.pausedMs).toBeLessThanOrEqual(3000);
    // No longer fresh: no cut, each slot its own cost.
    await sleep(60);
    const three = await slot(a, 'd', 50);
    const four = await slot(b, 'd', 50);
    expect(three.cut).toBeUndefined();
    expect(four.at - three.at).toBe(10);
  });

  it('a probe given back unsent: the next slot is the probe, not held for an answer that cannot come', async () => {
    const a = await store('unsent');
    const b = await store('unsent');
    await a.loss('p', 1, { ms: 0, baseMs: 1, capMs: 60_000 }, false, 0);
    await a.loss('p', 1_000_000_000_000_000, { ms: 0, baseMs: 1, capMs: 60_000 }, false, 0);
    await sleep(5);
    const probe = await slot(a, 'p', 0);
    expect(probe.probe).toBe(true);
    await a.refund('p', probe.at, 10, true);
    const again = await slot(b, 'p', 0);
    expect(again.probe).toBe(true);
    // Sent and not answered: held (probeMs 10 s).
    expect((await b.reserve('p', 10, 5000, 10_000, 250)).granted).toBe(false);
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
