/**
 * Results come by their completion events, even when the coordinator's event loop is slow and a
 * full window of chunks completes meanwhile: none is trimmed from the event stream before it is
 * read (a trimmed one would wait for the sweep, here set beyond the test's time).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runPipeline } from '../../src/index.js';
import { collectingLogger, OFFLINE_CONFIG, useTempDir } from '../helpers.js';
import { useRedis } from '../redis.js';
import { startWorkerCli, useChildren } from './helpers.js';

const redis = useRedis();
const tempDir = useTempDir();
useChildren();
const TASK = new URL('../fixtures/distributed/double-task.mjs', import.meta.url);

describe('results by their events', () => {
  it('takes each result from its event while a slow coordinator lets a window of chunks complete', async () => {
    const dir = await tempDir();
    const config = join(dir, 'config.json');
    await writeFile(config, JSON.stringify(OFFLINE_CONFIG));
    const workers = [1, 2].map(() =>
      startWorkerCli(['--redis', redis().url, '-c', config, '--task', TASK.href], dir),
    );
    const data = Array.from({ length: 3000 }, (_, n) => ({ n }));
    let busy = 0;
    const { stats } = await runPipeline(config, data, TASK, {
      output: join(dir, 'out.jsonl'),
      chunkSize: 5,
      pool: { watch: false, notify: false },
      // The coordinator's event loop blocked 100 ms out of every ~110: chunks complete in the meantime.
      progressIntervalMs: 10,
      onProgress: () => {
        const until = performance.now() + 100;
        while (performance.now() < until) busy++;
      },
      distributed: { redis: redis().url, window: 48, sweepIntervalMs: 600_000 },
      logger: collectingLogger(),
      handleSignals: false,
    });
    expect(stats.done).toBe(3000);
    expect(busy).toBeGreaterThan(0);
    await Promise.all(workers.map((worker) => worker.kill('SIGTERM')));
  }, 180_000);
});
