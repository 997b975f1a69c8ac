import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createClient } from '../../src/keys/client.js';
import { KeyPool } from '../../src/keys/key-pool.js';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { collectingLogger, receiver, until, useCleanup, useTempDir } from '../helpers.js';

const tempDir = useTempDir();
const cleanup = useCleanup();

interface WebhookBody {
  event: string;
  message: string;
  details: { blockedForMs?: number; repeat?: number };
}

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
    // The same events also go to a generic webhook, whose body says how long each repeat was blocked.
    const notify = { lark: hook.url, webhook: `${hook.url}/webhook`, base_wait_time: 0.1 };
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
    const lark = () => hook.bodies.filter((b) => b.path === '/hook');
    const webhook = () =>
      hook.bodies.filter((b) => b.path === '/hook/webhook').map((b) => b.body as WebhookBody);
    await until(() => lark().length >= 4 && webhook().length >= 4, 10_000, 'four blocked notifications each');
    for (const { body } of lark().slice(0, 4)) {
      expect(body).toMatchObject({
        msg_type: 'text',
        content: { text: expect.stringMatching(/^\[keybatch\] no usable key/) },
      });
    }
    // The schedule itself, not when the posts happened to arrive (which a busy machine delays):
    // repeat n is sent base·2^(n-1) after repeat n-1 at the earliest, and the events come in order.
    const blocked = webhook().slice(0, 4);
    expect(blocked.map((b) => [b.event, b.details.repeat])).toEqual([
      ['blocked', undefined],
      ['blocked', 1],
      ['blocked', 2],
      ['blocked', 3],
    ]);
    const since = blocked.slice(1).map((b) => b.details.blockedForMs!);
    const gaps = [since[0]!, since[1]! - since[0]!, since[2]! - since[1]!];
    // base 0.1 s doubling: at least 100, 200, 400 ms (a timer never fires early; 5 ms for clock rounding).
    expect(gaps[0]).toBeGreaterThanOrEqual(95);
    expect(gaps[1]).toBeGreaterThanOrEqual(195);
    expect(gaps[2]).toBeGreaterThanOrEqual(395);

    await writeFile(
      path,
      JSON.stringify({ key_list: [{ api_key: 'sk-test-new-n002', base_url: sim.url }], notify }),
    );
    await waiting;
    await until(
      () => lark().some(({ body }) => JSON.stringify(body).includes('resumed')),
      10_000,
      'a resumed notification',
    );
    await until(() => webhook().some((b) => b.event === 'resumed'), 10_000, 'a resumed webhook event');
    // Nothing blocked after resumed, in both targets' order.
    const events = webhook().map((b) => b.event);
    expect(events.slice(events.indexOf('resumed'))).toEqual(['resumed']);
    const count = hook.bodies.length;
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(hook.bodies.length).toBe(count);
  });
});
