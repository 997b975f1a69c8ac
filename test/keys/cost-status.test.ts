/**
 * What each key's answers cost, in pool.status(): per key, per config group and in all, from the
 * answers' `usage` at config.json `prices` over the bundled table; a model with no price is
 * "unknown" (null), never guessed. Real HTTP to the simulator through the openai SDK.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createClient } from '../../src/keys/client.js';
import { KeyPool } from '../../src/keys/key-pool.js';
import { silentLogger } from '../../src/logger.js';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { usageCost } from '../../src/tokens/cost.js';
import { priceTable } from '../../src/tokens/prices.js';

const KEYS = ['sk-cost-status-key-aaaa-0001', 'sk-cost-status-key-bbbb-0002', 'sk-cost-status-key-cccc-0003'];
const cleanup: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(cleanup.splice(0).map((thing) => thing.close()));
});

async function poolOver(sim: Simulator, prices?: Record<string, { input: number; output: number }>) {
  const pool = await KeyPool.open(
    {
      key_list: [
        { api_key: KEYS[0]!, base_url: sim.url, group: 'team' },
        { api_key: KEYS[1]!, base_url: sim.url, group: 'team' },
        { api_key: KEYS[2]!, base_url: sim.url },
      ],
      ...(prices ? { prices } : {}),
    },
    { logger: silentLogger },
  );
  cleanup.push(pool);
  return pool;
}

describe('cost in pool.status()', () => {
  it('each key, each group and the pool show what their answers cost at the table price', async () => {
    const sim = await startSimulator({ keys: KEYS.map((key) => ({ key })) });
    cleanup.push(sim);
    const pool = await poolOver(sim);
    const client = createClient(pool);
    const usages: Array<Record<string, unknown>> = [];
    for (let i = 0; i < 9; i += 1) {
      const answer = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: `item ${i}: say something of some length` }],
      });
      usages.push(JSON.parse(JSON.stringify(answer.usage)));
    }
    const price = priceTable().lookup('gpt-4o-mini')!.price;
    const expected = usages.reduce((sum, usage) => sum + usageCost(usage, price), 0);
    const status = pool.status();
    expect(expected).toBeGreaterThan(0);
    expect(status.cost?.usd).toBeCloseTo(expected, 12);
    const perKey = status.keys.map((key) => key.cost?.usd ?? 0);
    expect(perKey.reduce((a, b) => a + b, 0)).toBeCloseTo(expected, 12);
    // A key that served answers has a cost of its own; one that served none costs nothing.
    for (const key of status.keys) expect((key.cost?.usd ?? 0) > 0).toBe(key.successes > 0);
    expect(status.groups).toHaveLength(1);
    const team = status.groups![0]!;
    expect(team.group).toBe('team');
    expect(team.keys).toEqual([status.keys[0]!.key, status.keys[1]!.key]);
    expect(team.cost.usd).toBeCloseTo(perKey[0]! + perKey[1]!, 12);
    expect(JSON.stringify(status)).not.toContain(KEYS[0]!.slice(0, 20));
  });

  it('config.json prices override the table, and a model without a price is unknown, not guessed', async () => {
    const sim = await startSimulator({
      keys: KEYS.map((key) => ({ key })),
      models: ['my-proxy-model', 'no-such-priced-model'],
    });
    cleanup.push(sim);
    const pool = await poolOver(sim, { 'my-proxy-model': { input: 1_000_000, output: 2_000_000 } });
    const client = createClient(pool);
    const priced = await client.chat.completions.create({
      model: 'my-proxy-model',
      messages: [{ role: 'user', content: 'priced by config' }],
    });
    const usage = priced.usage!;
    const expected = usage.prompt_tokens * 1 + usage.completion_tokens * 2;
    expect(pool.status().cost).toEqual({ usd: expected, knownUsd: expected, unknownModels: [] });
    await client.chat.completions.create({
      model: 'no-such-priced-model',
      messages: [{ role: 'user', content: 'nobody knows my price' }],
    });
    const status = pool.status();
    expect(status.cost).toEqual({ usd: null, knownUsd: expected, unknownModels: ['no-such-priced-model'] });
    expect(status.keys.some((key) => key.cost?.usd === null)).toBe(true);
  });
});
