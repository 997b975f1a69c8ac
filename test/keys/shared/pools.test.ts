/**
 * Pools in one process sharing through a real redis-server, over the simulator with the real SDK:
 * a key one pool found rejected or spent is out in the other within a second, without a request of
 * its own; status() shows the shared counters and the connection; a pool not shared sends on.
 */
import { describe, expect, it } from 'vitest';
import { AbortError } from '../../../src/errors.js';
import { createClient } from '../../../src/keys/client.js';
import { KeyPool } from '../../../src/keys/key-pool.js';
import { domainText } from '../../../src/keys/shared/naming.js';
import { RedisStore } from '../../../src/keys/shared/redis-store.js';
import { startSimulator } from '../../../src/sim/index.js';
import { collectingLogger, until, useCleanup } from '../../helpers.js';
import { useRedis } from '../../redis.js';

const redis = useRedis();
const cleanup = useCleanup();
let namespaces = 0;

const GOOD = 'sk-shared-pools-good-key-K1';
const BAD = 'sk-shared-pools-bad-key-K2';

async function pools(sim: { url: string }, shared: boolean, keys = [BAD, GOOD]) {
  const namespace = `pools${++namespaces}`;
  const config = { key_list: keys.map((api_key) => ({ api_key, base_url: sim.url })) };
  const open = async () => {
    const logger = collectingLogger();
    const pool = cleanup(
      await KeyPool.open(config, {
        logger,
        notify: false,
        env: {},
        ...(shared ? { shared: { url: redis().url, namespace } } : {}),
      }),
    );
    return { pool, logger };
  };
  return [await open(), await open()] as const;
}

/** Requests the simulator received with the key ending in `K2`. */
const sentTo = (sim: { requests(): Array<{ key: string | null }> }, label = 'sk-…y-K2') =>
  sim.requests().filter((request) => request.key === label).length;

const ask = (pool: KeyPool) =>
  createClient(pool, { workerId: 0 }).chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'hi' }],
  });

describe('pools sharing one Redis', () => {
  it('a key answered 401 in one pool is out in the other within 1 s, with one line saying so', async () => {
    const sim = cleanup(await startSimulator({ keys: [{ key: GOOD }] }));
    const [a, b] = await pools(sim, true);
    await ask(a.pool); // the first lease goes to BAD (rotation starts at key_list[0]): 401, then GOOD
    expect(a.pool.status().keys[0]!.state).toBe('invalid');
    const found = Date.now();
    await until(() => b.pool.status().keys[0]!.state === 'invalid', 1000, 'the other pool to see the 401');
    expect(Date.now() - found).toBeLessThan(1000);
    expect(b.logger.text()).toMatch(/key sk-…y-K2 was found rejected by another process .*401/);
    await ask(b.pool);
    expect(sentTo(sim)).toBe(1);
    expect(b.pool.status().shared).toEqual({
      url: redis().url,
      namespace: expect.any(String),
      connected: true,
    });
    await until(() => (b.pool.status().keys[1]!.shared?.successes ?? 0) >= 2, 10_000, 'shared counters');
    expect(b.pool.status().keys[0]!.shared).toMatchObject({ requests: 1, errors: { invalid: 1 } });
  });

  it('without sharing, the other pool sends to the rejected key again (the defect the shared pool fixes)', async () => {
    const sim = cleanup(await startSimulator({ keys: [{ key: GOOD }] }));
    const [a, b] = await pools(sim, false);
    await ask(a.pool);
    await ask(b.pool);
    expect(sentTo(sim)).toBe(2);
  });

  it('a spent key (quota) in one pool is out in the other within 1 s', async () => {
    const sim = cleanup(await startSimulator({ keys: [{ key: BAD, quota: 1 }, { key: GOOD }] }));
    const [a, b] = await pools(sim, true);
    // BAD answers once, then 429 insufficient_quota.
    while (a.pool.status().keys[0]!.state !== 'exhausted') await ask(a.pool);
    await until(
      () => b.pool.status().keys[0]!.state === 'exhausted',
      1000,
      'the other pool to see the spent key',
    );
    const before = sentTo(sim);
    for (let i = 0; i < 4; i++) await ask(b.pool);
    expect(sentTo(sim)).toBe(before);
  });

  it('a request waiting on a domain another process paused ends at once when aborted, nothing counted', async () => {
    const sim = cleanup(await startSimulator({ keys: [{ key: GOOD }] }));
    const [a] = await pools(sim, true, [GOOD]);
    const namespace = a.pool.status().shared!.namespace;
    // Another process paused the key's domain for 1.5 s (a retry-after it was told).
    const other = cleanup(await RedisStore.open(redis().url, namespace));
    await other.law.pause(other.hash(domainText(GOOD, undefined)), Date.now(), 1500);
    await until(() => a.pool.status().keys[0]!.pacing?.blockedUntil !== undefined, 5000, 'the pause heard');
    const controller = new AbortController();
    const waiting = a.pool.acquire({ tokens: 1, workerId: 0 }, controller.signal);
    // Long enough for the store's answer (a wait) to put the request back in the queue.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const aborted = Date.now();
    controller.abort();
    await expect(waiting).rejects.toBeInstanceOf(AbortError);
    // At once: well before the 1.5 s pause would have let it go (generous for a busy machine).
    expect(Date.now() - aborted).toBeLessThan(1200);
    expect(a.pool.status().keys[0]!).toMatchObject({ inFlight: 0, requests: 0 });
    expect(sim.requests()).toHaveLength(0);
  });

  it('Redis lost: status().shared.connected is false, requests go on, one line each way; back: shared again', async () => {
    const sim = cleanup(await startSimulator({ keys: [{ key: GOOD }] }));
    const [a] = await pools(sim, true, [GOOD]);
    await redis().kill();
    await until(() => a.pool.status().shared?.connected === false, 5000, 'the loss to be noticed');
    await ask(a.pool);
    await ask(a.pool);
    await redis().restart();
    await until(() => a.pool.status().shared?.connected === true, 10_000, 'the reconnection');
    await until(
      () => (a.pool.status().keys[0]!.shared?.requests ?? 0) === 2,
      5000,
      'the counters written back',
    );
    const lines = a.logger.lines.filter((line) => /Redis/.test(line));
    expect(lines).toEqual([
      expect.stringMatching(
        /^warn: lost Redis at redis:\/\/127\.0\.0\.1:\d+ \(connection closed\): going on/,
      ),
      expect.stringMatching(
        /^info: Redis at redis:\/\/127\.0\.0\.1:\d+ is back: the key pool is shared again$/,
      ),
    ]);
  });

  it('a key found rejected by another process while a request waits for its domain gets no request', async () => {
    const sim = cleanup(await startSimulator({ keys: [{ key: GOOD }] }));
    const [a] = await pools(sim, true);
    const namespace = a.pool.status().shared!.namespace;
    const other = cleanup(await RedisStore.open(redis().url, namespace));
    // Both domains paused by another process: BAD's ends first, GOOD's well after.
    await other.law.pause(other.hash(domainText(BAD, undefined)), Date.now(), 1200);
    await other.law.pause(other.hash(domainText(GOOD, undefined)), Date.now(), 2500);
    await until(
      () => a.pool.status().keys.every((key) => key.pacing?.blockedUntil !== undefined),
      5000,
      'the pauses heard',
    );
    const answer = ask(a.pool); // waits; BAD would be the first usable again
    await other.mark(other.hash(BAD), 'invalid', { reason: 'rejected (401 invalid_api_key)' });
    await answer;
    expect(a.pool.status().keys[0]!.state).toBe('invalid');
    expect(sentTo(sim)).toBe(0);
  });
});
