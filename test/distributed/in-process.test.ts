import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startWorker } from '../../src/distributed/worker.js';
import { type Progress, runPipeline } from '../../src/index.js';
import { collectingLogger, OFFLINE_CONFIG, until, useTempDir } from '../helpers.js';
import { useRedis } from '../redis.js';
import { runKeys } from './helpers.js';

const redis = useRedis();
const tempDir = useTempDir();
const TASK = new URL('../fixtures/distributed/double-task.mjs', import.meta.url);

describe('a distributed run in one process', () => {
  it('runs every chunk on a worker and writes the output in input order', async () => {
    const dir = await tempDir();
    const output = join(dir, 'out.jsonl');
    const worker = await startWorker({
      task: TASK.href,
      redis: redis().url,
      config: OFFLINE_CONFIG,
      pollIntervalMs: 50,
      logger: collectingLogger(),
    });
    try {
      const data = Array.from({ length: 95 }, (_, n) => ({ n }));
      const seen: Progress[] = [];
      const { stats } = await runPipeline(OFFLINE_CONFIG, data, TASK, {
        output,
        chunkSize: 10,
        onProgress: (p) => seen.push(p),
        progressIntervalMs: 20,
        distributed: { redis: redis().url, window: 4, sweepIntervalMs: 200, statusIntervalMs: 50 },
        logger: collectingLogger(),
        handleSignals: false,
      });
      expect(stats.done).toBe(95);
      // Progress and the summary name the workers: count, rate, in flight, last seen.
      const last = seen.at(-1)?.workers;
      expect(last?.map((w) => w.id)).toEqual([worker.id]);
      expect(last?.[0]).toMatchObject({ pid: process.pid, gone: false });
      expect(typeof last?.[0]?.rate).toBe('number');
      expect(typeof last?.[0]?.inFlight).toBe('number');
      expect(last?.[0]?.lastSeenMs).toBeGreaterThanOrEqual(0);
      expect(stats.distributed?.workers.map((w) => w.id)).toEqual([worker.id]);
      const lines = (await readFile(output, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines.map((l) => l.n)).toEqual(data.map((d) => d.n));
      expect(lines.every((l) => l.double === l.n * 2)).toBe(true);
    } finally {
      await worker.close();
    }
    expect(runKeys(await redis().dump())).toEqual([]);
  });
});

describe("the coordinator's own lanes", () => {
  it('runs the chunks itself with `lanes` when no worker is there, and leaves nothing in Redis', async () => {
    const dir = await tempDir();
    const output = join(dir, 'out.jsonl');
    const data = Array.from({ length: 40 }, (_, n) => ({ n }));
    const { stats } = await runPipeline(OFFLINE_CONFIG, data, TASK, {
      output,
      chunkSize: 5,
      distributed: { redis: redis().url, lanes: 2, window: 4, sweepIntervalMs: 200, statusIntervalMs: 50 },
      logger: collectingLogger(),
      handleSignals: false,
    });
    expect(stats.done).toBe(40);
    expect(stats.distributed?.workers.map((w) => w.pid)).toEqual([process.pid]);
    const lines = (await readFile(output, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.double)).toEqual(data.map((d) => d.n * 2));
    await until(async () => runKeys(await redis().dump()).length === 0, 10_000, 'Redis to be empty');
  });
});
