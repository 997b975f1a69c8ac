/**
 * Redis restarted empty in the middle of a distributed run (no persistence): the coordinator
 * registers the run again and queues again the chunks it was waiting for; the run completes with
 * every item once, in input order.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startWorker } from '../../src/distributed/worker.js';
import { runPipeline } from '../../src/index.js';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { checkpointLines } from '../cli/helpers.js';
import { collectingLogger, until, useTempDir } from '../helpers.js';
import { useRedis } from '../redis.js';
import { runKeys } from './helpers.js';

const redis = useRedis();
const tempDir = useTempDir();
let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const TASK = new URL('../fixtures/distributed/pid-task.mjs', import.meta.url);
const KEY = 'sk-test-dist-restart-key-0001';

describe('Redis restarted mid-run', () => {
  it('registers the run again and queues the lost chunks again; every item once, in order', async () => {
    sim = await startSimulator({ keys: [{ key: KEY }], latencyMs: 30 });
    const config = { key_list: [{ api_key: KEY, base_url: sim.url }] };
    const output = join(await tempDir(), 'out.jsonl');
    const logger = collectingLogger();
    const worker = await startWorker({
      task: TASK.href,
      redis: redis().url,
      config,
      concurrency: 2,
      pollIntervalMs: 100,
      logger: collectingLogger(),
    });
    try {
      const data = Array.from({ length: 120 }, (_, n) => ({ n }));
      const running = runPipeline(config, data, TASK, {
        output,
        chunkSize: 4,
        pool: { notify: false },
        distributed: { redis: redis().url, window: 6, sweepIntervalMs: 200, statusIntervalMs: 100 },
        logger,
        handleSignals: false,
      });
      await until(async () => (await checkpointLines(`${output}.keybatch`)) >= 20, 60_000, '20 items');
      await redis().restart();
      const { stats } = await running;
      expect(stats.done).toBe(120);
      const rows = (await readFile(output, 'utf8'))
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(rows.map((row) => row.n)).toEqual(data.map((d) => d.n));
      expect(logger.text()).toMatch(/was gone from Redis: registered again/);
    } finally {
      await worker.close();
    }
    await until(async () => runKeys(await redis().dump()).length === 0, 30_000, 'Redis to be empty');
  }, 120_000);
});
