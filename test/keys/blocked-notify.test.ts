import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createClient } from '../../src/keys/client.js';
import { KeyPool } from '../../src/keys/key-pool.js';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { collectingLogger, receiver, until, useCleanup, useTempDir } from '../helpers.js';

const tempDir = useTempDir();
const cleanup = useCleanup();

describe('notifications while blocked', () => {
  it('reach a Lark receiver with the doubling schedule, then "resumed" after a config edit', async () => {
    const hook = await receiver();
    cleanup(hook);
    const sim: Simulator = await startSimulator({
      keys: [{ key: 'sk-test-spent-n001', quota: 0 }, { key: 'sk-test-new-n002' }],
    });
    cleanup(sim);
    const dir = await tempDir();
    const path = join(dir, 'config.json');
    const notify = { lark: hook.url, base_wait_time: 0.1 };
    await writeFile(
      path,
      JSON.stringify({ key_list: [{ api_key: 'sk-test-spent-n001', base_url: sim.url }], notify }),
    );
    const pool = await KeyPool.open(path, { logger: collectingLogger(), env: {} });
    cleanup(pool);
    const client = createClient(pool);
    const waiting = client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
    });
    await until(() => hook.bodies.length >= 4, 10_000, 'four blocked notifications');
    const blocked = hook.bodies.slice(0, 4);
    for (const { body } of blocked) {
      expect(body).toMatchObject({
        msg_type: 'text',
        content: { text: expect.stringMatching(/^\[keybatch\] no usable key/) },
      });
    }
    const gaps = blocked.slice(1).map((b, i) => b.at - blocked[i]!.at);
    // base 0.1 s doubling: gaps of about 100, 200, 400 ms; generous bounds.
    expect(gaps[0]).toBeGreaterThanOrEqual(80);
    expect(gaps[1]).toBeGreaterThanOrEqual(160);
    expect(gaps[2]).toBeGreaterThanOrEqual(320);
    expect(gaps[2]!).toBeGreaterThan(gaps[0]!);

    await writeFile(
      path,
      JSON.stringify({ key_list: [{ api_key: 'sk-test-new-n002', base_url: sim.url }], notify }),
    );
    await waiting;
    await until(
      () => hook.bodies.some(({ body }) => JSON.stringify(body).includes('resumed')),
      5000,
      'a resumed notification',
    );
    const count = hook.bodies.length;
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(hook.bodies.length).toBe(count);
  });
});
