import { afterEach, describe, expect, it } from 'vitest';
import { KeyPool } from '../../src/keys/key-pool.js';
import { Notifier } from '../../src/notify/index.js';
import { runPipeline } from '../../src/pipeline/pipeline.js';
import { collectingLogger, type Receiver, startReceiver } from './receiver.js';

const receivers: Receiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

/** A webhook that receives every request and never answers. */
async function hangingWebhook(): Promise<Receiver> {
  const r = await startReceiver({ answer: () => 'hang' });
  receivers.push(r);
  return r;
}

describe('a webhook that never answers never holds the exit', () => {
  it('close() waits at most closeTimeoutMs in all for deliveries under way, then gives up saying so', async () => {
    const r = await hangingWebhook();
    const logger = collectingLogger();
    // Each request could wait a minute; three are queued one after the other for the one target.
    const n = new Notifier(
      { webhook: `${r.url}/hook` },
      { env: {}, logger, timeoutMs: 60_000, closeTimeoutMs: 300 },
    );
    for (const kind of ['started', 'blocked', 'finished'] as const) void n.send({ kind, message: kind });
    await r.waitFor(1);
    const closing = Date.now();
    await n.close();
    expect(Date.now() - closing).toBeLessThan(10_000);
    expect(logger.warns()).toEqual([
      expect.stringMatching(
        /^notify: timed out at exit: gave up after 0\.3 s; not delivered: 3 to webhook \(127\.0\.0\.1:\d+\)$/,
      ),
    ]);
    expect(r.received).toHaveLength(1);
  });

  it('runPipeline does not wait for its "finished" notification; the pool’s close() bounds it to 3 s', async () => {
    const r = await hangingWebhook();
    const logger = collectingLogger();
    const notifier = new Notifier({ webhook: `${r.url}/hook` }, { env: {}, logger, timeoutMs: 60_000 });
    const pool = await KeyPool.open(
      { key_list: [{ api_key: 'sk-test-hanging-hook-0001' }] },
      { notify: notifier, watch: false, env: {} },
    );
    const started = Date.now();
    const { stats } = await runPipeline(pool, [1, 2, 3], (chunk: number[]) => chunk, {
      handleSignals: false,
      logger,
    });
    expect(stats.done).toBe(3);
    await pool.close();
    // Without the bounds: two deliveries of up to 60 s each, one after the other.
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(logger.warns().join('\n')).toMatch(
      /notify: timed out at exit: gave up after 3 s; not delivered: 2 to webhook \(127/,
    );
  }, 30_000);
});
