/**
 * A shared pool whose Redis is full (writes refused: OOM) or frozen (answers late) says so once,
 * naming Redis, not the keys (issue 25, item 17), and goes on serving.
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
const KEY = 'sk-health-shared-key-0001';

async function sharedPool(namespace: string) {
  const sim = cleanup(await startSimulator({ keys: [{ key: KEY }], latencyMs: 5 }));
  const logger = collectingLogger();
  const pool = await KeyPool.open(
    { key_list: [{ api_key: KEY, base_url: sim.url }] },
    { logger, notify: false, watch: false, shared: { url: redis().url, namespace } },
  );
  const admin = new Redis(redis().url);
  cleanup({
    close: async () => {
      await pool.close();
      admin.disconnect();
    },
  });
  const client = createClient(pool);
  const ask = (n: number) =>
    client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `q ${n}` }] });
  return { logger, admin, ask };
}

describe('a shared pool on an unhealthy Redis', () => {
  it('full (writes refused with OOM): one warning naming Redis and maxmemory, not the keys; requests still served', {
    timeout: 60_000,
  }, async () => {
    const { logger, admin, ask } = await sharedPool('health-full');
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    await admin.config('SET', 'maxmemory', '1');
    try {
      for (let n = 0; n < 10; n++) await ask(n);
      await until(() => /Redis at .* refused a write/.test(logger.text()), 20_000, 'the warning');
      for (let n = 10; n < 20; n++) await ask(n);
      await new Promise((resolve) => setTimeout(resolve, 600));
    } finally {
      await admin.config('SET', 'maxmemory', '0');
    }
    const warnings = logger.lines.filter((line) => /refused a write/.test(line));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/OOM/);
    expect(warnings[0]).toMatch(/maxmemory/);
    expect(warnings[0]).toMatch(/not the keys/);
    expect(warnings[0]).not.toContain(KEY);
  });

  it('frozen (answers late): one warning naming how long Redis took', { timeout: 60_000 }, async () => {
    const { logger, admin, ask } = await sharedPool('health-frozen');
    await ask(0);
    await admin.call('CLIENT', 'PAUSE', '1500', 'ALL');
    await until(() => /Redis at .* took .* to answer/.test(logger.text()), 20_000, 'the warning');
    await ask(1);
    const warnings = logger.lines.filter((line) => /to answer/.test(line));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/not the keys/);
  });
});
