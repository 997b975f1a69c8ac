/**
 * Nothing stored in Redis lets anyone recover a key: after two shared pools went through every key
 * state (rejected, spent, denied a model, rate limited, a group), every Redis key and value is
 * scanned for any 8 characters in a row of any API key; and every entry has a TTL.
 */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createClient } from '../../../src/keys/client.js';
import { KeyPool } from '../../../src/keys/key-pool.js';
import { startSimulator } from '../../../src/sim/index.js';
import { collectingLogger, until, useCleanup } from '../../helpers.js';
import { useRedis } from '../../redis.js';

const redis = useRedis();
const cleanup = useCleanup();

const KEYS = {
  good: 'sk-privacy-Gx7Rq2mLp9Vt4Zw1',
  grouped: 'sk-privacy-Hy8Sr3nMq0Wu5Ax2',
  invalid: 'sk-privacy-Jz9Ts4oNr1Xv6By3',
  spent: 'sk-privacy-Ka0Ut5pOs2Yw7Cz4',
  denied: 'sk-privacy-Lb1Vu6qPt3Zx8Da5',
  limited: 'sk-privacy-Mc2Wv7rQu4Ay9Eb6',
};

/** Every run of 8 characters of the key. */
const pieces = (key: string) => Array.from({ length: key.length - 7 }, (_, i) => key.slice(i, i + 8));

describe('what a shared pool stores in Redis', () => {
  it('holds no full key and no 8 characters of one, and every entry expires', {
    timeout: 60_000,
  }, async () => {
    const sim = cleanup(
      await startSimulator({
        keys: [
          { key: KEYS.good },
          { key: KEYS.grouped, group: 'team' },
          { key: KEYS.spent, quota: 1 },
          { key: KEYS.denied, models: ['gpt-4o'] },
          { key: KEYS.limited, requestsPerWindow: 2, windowMs: 1000 },
        ],
      }),
    );
    const config = {
      key_list: [
        { api_key: KEYS.invalid, base_url: sim.url },
        { api_key: KEYS.spent, base_url: sim.url },
        { api_key: KEYS.denied, base_url: sim.url },
        { api_key: KEYS.limited, base_url: sim.url },
        { api_key: KEYS.good, base_url: sim.url },
        { api_key: KEYS.grouped, base_url: sim.url, group: 'team' },
      ],
    };
    const open = async () =>
      cleanup(
        await KeyPool.open(config, {
          logger: collectingLogger(),
          notify: false,
          env: {},
          shared: { url: redis().url, namespace: 'privacy' },
        }),
      );
    const pools = [await open(), await open()];
    const asks = pools.flatMap((pool, p) =>
      Array.from({ length: 12 }, (_, i) =>
        createClient(pool, { workerId: i }).chat.completions.create({
          model: 'gpt-4o-mini',
          messages: [{ role: 'user', content: `pool ${p} ask ${i}` }],
        }),
      ),
    );
    await Promise.all(asks);
    const states = () => pools[1]!.status().keys.map((key) => key.state);
    await until(() => states()[0] === 'invalid' && states()[1] === 'exhausted', 10_000, 'shared states');
    expect(pools[1]!.status().keys[2]!.deniedModels).toEqual(['gpt-4o-mini']);
    // One more sync from each, so counters and learned limits are in.
    await until(() => (pools[0]!.status().keys[4]!.shared?.requests ?? 0) > 0, 10_000, 'shared counters');

    const dump = await redis().dump();
    expect(dump.length).toBeGreaterThan(4);
    const text = dump.map((entry) => `${entry.key}\n${entry.value}`).join('\n');
    expect(text).toContain('rejected (401');
    expect(text).toContain('denied:gpt-4o-mini');
    for (const key of Object.values(KEYS)) {
      for (const piece of pieces(key))
        expect(text, `a piece of a key (${piece}) in Redis`).not.toContain(piece);
    }
    expect(text).not.toContain('sk-');
    const client = new Redis(redis().url);
    try {
      for (const { key } of dump) expect(await client.pttl(key), `${key} has a TTL`).toBeGreaterThan(0);
    } finally {
      client.disconnect();
    }
  });
});
