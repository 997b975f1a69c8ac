/**
 * What a Redis server (or anyone who can write to it) can do to a shared pool's pauses, and what it
 * can learn of its keys (issue 23): a pause or cooling read from Redis lasts at most 24 h, like one
 * read from headers; a config save clears the pauses that came from Redis; and with
 * `KEYBATCH_SECRET` set, nothing stored lets a low-entropy key be checked against its hash.
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createClient } from '../../../src/keys/client.js';
import { KeyPool } from '../../../src/keys/key-pool.js';
import { domainText, keyedHash, PREFIX } from '../../../src/keys/shared/naming.js';
import { startSimulator } from '../../../src/sim/index.js';
import { collectingLogger, until, useCleanup } from '../../helpers.js';
import { useRedis } from '../../redis.js';

const redis = useRedis();
const cleanup = useCleanup();

const DAY_MS = 86_400_000;
const TEN_YEARS_MS = 10 * 365 * DAY_MS;

async function sharedPool(namespace: string, apiKey: string, baseUrl: string, env: NodeJS.ProcessEnv = {}) {
  const config = { key_list: [{ api_key: apiKey, base_url: baseUrl }] };
  return cleanup(
    await KeyPool.open(config, {
      logger: collectingLogger(),
      notify: false,
      env,
      waitTimeoutMs: 1000,
      shared: { url: redis().url, namespace },
    }),
  );
}

/**
 * The Redis names of the key and of its domain's law state (domain/redis-store.ts: the SHA-256 of
 * the domain's keyed hash), from the namespace's salt as Redis holds it.
 */
async function names(client: Redis, namespace: string, apiKey: string) {
  const base = `${PREFIX}:${namespace}`;
  const salt = await client.get(`${base}:salt`);
  if (!salt) throw new Error('no salt in Redis');
  const domain = keyedHash(salt, domainText(apiKey, undefined));
  const id = createHash('sha256').update(domain).digest('hex').slice(0, 32);
  return { key: `${base}:key:${keyedHash(salt, apiKey)}`, domain: `${base}:law:{${id}}` };
}

/** Whether the domain's law state in Redis holds a pause that has not ended. */
async function pausedInRedis(client: Redis, domain: string): Promise<boolean> {
  const until = Number(await client.hget(domain, 'pausedUntil'));
  return until > (await redisNow(client));
}

/** The instant a refused lease names as the soonest a key is usable (0: a lease was granted). */
async function soonest(pool: KeyPool): Promise<number> {
  const lease = await pool.acquire({ workerId: 0, tokens: 1 }).then(
    (granted) => granted,
    (error: Error) => error,
  );
  if (!(lease instanceof Error)) {
    pool.release(lease, { outcome: 'cancelled' });
    return 0;
  }
  const at = /usable at (\S+) \(/.exec(lease.message);
  if (!at) throw new Error(`expected a refused lease naming when, got ${lease.message}`);
  return Date.parse(at[1]!);
}

/** Redis's clock, ms. */
async function redisNow(client: Redis): Promise<number> {
  const [seconds, micros] = await client.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

describe('pauses read from Redis', () => {
  for (const where of ['domain', 'key'] as const) {
    it(`a ${where === 'domain' ? "domain's pause" : "key's cooling"} ten years away in Redis lasts at most 24 h`, {
      timeout: 30_000,
    }, async () => {
      const sim = cleanup(await startSimulator({ keys: [{ key: 'sk-trust-pause-0001' }] }));
      const client = new Redis(redis().url);
      try {
        const namespace = `trust-${where}`;
        const pool = await sharedPool(namespace, 'sk-trust-pause-0001', sim.url);
        const { key, domain } = await names(client, namespace, 'sk-trust-pause-0001');
        const far = (await redisNow(client)) + TEN_YEARS_MS;
        expect(await client.exists(domain), 'the domain opened in Redis by the first sync').toBe(1);
        if (where === 'domain') await client.hset(domain, 'pausedUntil', far);
        else await client.hset(key, 'cool', far);
        // The next lease (a domain's pause) or sync (a key's cooling, every 250 ms) reads it; a lease
        // then waits, and is refused naming when.
        await until(async () => (await soonest(pool)) > Date.now() + 60_000, 10_000, 'the pause read');
        expect(await soonest(pool)).toBeLessThanOrEqual(Date.now() + DAY_MS + 60_000);
      } finally {
        client.disconnect();
      }
    });
  }

  it('a config save clears the pauses that came from Redis, there and here', {
    timeout: 30_000,
  }, async () => {
    const sim = cleanup(await startSimulator({ keys: [{ key: 'sk-trust-clear-0001' }] }));
    const client = new Redis(redis().url);
    try {
      const pool = await sharedPool('trust-clear', 'sk-trust-clear-0001', sim.url);
      const { key, domain } = await names(client, 'trust-clear', 'sk-trust-clear-0001');
      const hour = (await redisNow(client)) + 3_600_000;
      expect(await client.exists(domain), 'the domain opened in Redis by the first sync').toBe(1);
      await client.hset(domain, 'pausedUntil', hour);
      await client.hset(key, 'cool', hour);
      await until(async () => (await soonest(pool)) > Date.now() + 60_000, 10_000, 'the pause read');
      pool.reload({ keys: [{ apiKey: 'sk-trust-clear-0001', baseUrl: sim.url }], keyIndex: 0 });
      const answer = await createClient(pool).chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'after the save' }],
      });
      expect(answer.choices.length).toBe(1);
      await until(async () => !(await pausedInRedis(client, domain)), 5000, 'the pause gone from Redis');
      expect(await client.hexists(key, 'cool')).toBe(0);
    } finally {
      client.disconnect();
    }
  });
});

describe('the keyed hashes in Redis', () => {
  it('with KEYBATCH_SECRET, nothing stored lets a low-entropy key be checked against its hash', {
    timeout: 30_000,
  }, async () => {
    const weak = 'sk-test-1234';
    const sim = cleanup(await startSimulator({ keys: [{ key: weak }] }));
    const pool = await sharedPool('trust-salt', weak, sim.url, {
      KEYBATCH_SECRET: 'a secret every process of the pool shares, never stored in Redis',
    });
    await createClient(pool).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'one request, so the key is named in Redis' }],
    });
    await until(() => (pool.status().keys[0]!.shared?.requests ?? 0) > 0, 10_000, 'the counters synced');
    const dump = await redis().dump();
    const names = dump.map((entry) => entry.key).join('\n');
    // Every stored string (a value, a hash's fields and values), as a salt an attacker could try.
    const strings = (value: unknown): string[] =>
      typeof value === 'string'
        ? [value]
        : value && typeof value === 'object'
          ? Object.entries(value).flatMap(([field, inner]) => [field, ...strings(inner)])
          : [];
    const candidates = new Set(dump.flatMap((entry) => strings(JSON.parse(entry.value))));
    expect(candidates.size).toBeGreaterThan(1);
    for (const candidate of candidates) {
      for (const text of [weak, domainText(weak, undefined)])
        expect(names, 'a Redis name recomputed from a value stored beside it').not.toContain(
          keyedHash(candidate, text),
        );
    }
  });
});
