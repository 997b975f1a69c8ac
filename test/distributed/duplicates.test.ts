/**
 * Exactly once in the coordinator: a result that reaches Redis for a chunk the checkpoint already
 * holds (a second delivery, or the coordinator killed between checkpointing and removing the job)
 * is discarded and counted; a rerun collects what completed while no coordinator ran instead of
 * sending it again.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Queue, Worker } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { jobId, queueName } from '../../src/distributed/names.js';
import { startWorker } from '../../src/distributed/worker.js';
import { type PipelineStats, runPipeline } from '../../src/index.js';
import { collectingLogger, OFFLINE_CONFIG, useTempDir } from '../helpers.js';
import { useRedis } from '../redis.js';
import { runKeys } from './helpers.js';

const redis = useRedis();
const tempDir = useTempDir();
const TASK = new URL('../fixtures/distributed/double-task.mjs', import.meta.url);
const DATA = Array.from({ length: 20 }, (_, n) => ({ n }));

function run(output: string, limit?: number) {
  return runPipeline(OFFLINE_CONFIG, DATA, TASK, {
    output,
    chunkSize: 4,
    ...(limit === undefined ? {} : { limit }),
    distributed: { redis: redis().url, window: 2, sweepIntervalMs: 100, statusIntervalMs: 50 },
    logger: collectingLogger(),
    handleSignals: false,
  });
}

async function stoppedRun(output: string, limit: number): Promise<PipelineStats> {
  const error = (await run(output, limit).catch((e: unknown) => e)) as {
    code?: string;
    stats: PipelineStats;
  };
  expect(error.code).toBe('LIMIT_REACHED');
  return error.stats;
}

/** Puts a completed job in the run's queue, as a worker would have: `reply` is its return value. */
async function completeInRedis(runId: string, first: number, reply: unknown): Promise<void> {
  const connection = { url: redis().url, maxRetriesPerRequest: null };
  const queue = new Queue(queueName(runId), { connection, prefix: 'keybatch' });
  let done!: () => void;
  const completed = new Promise<void>((resolve) => {
    done = resolve;
  });
  const worker = new Worker(queueName(runId), async () => reply, { connection, prefix: 'keybatch' });
  worker.on('completed', () => done());
  await queue.add('chunk', { i: [first], c: 0 }, { jobId: jobId(runId, first) });
  await completed;
  await worker.close();
  await queue.close();
}

describe('results in Redis and the checkpoint', () => {
  it('discards and counts a result for items already checkpointed; the first result stays', async () => {
    const output = join(await tempDir(), 'out.jsonl');
    const worker = await startWorker({
      task: TASK.href,
      redis: redis().url,
      config: OFFLINE_CONFIG,
      pollIntervalMs: 50,
      logger: collectingLogger(),
    });
    let runId: string;
    try {
      runId = (await stoppedRun(output, 8)).distributed!.runId;
    } finally {
      await worker.close();
    }
    // A second delivery of chunk 0 (items 0-3), with other results.
    const dup = {
      ok: true,
      i: [0, 1, 2, 3],
      results: DATA.slice(0, 4).map((d) => ({ n: d.n, double: 'dup' })),
      w: 'x',
    };
    await completeInRedis(runId, 0, dup);
    const again = await startWorker({
      task: TASK.href,
      redis: redis().url,
      config: OFFLINE_CONFIG,
      pollIntervalMs: 50,
      logger: collectingLogger(),
    });
    try {
      const { stats } = await run(output);
      expect(stats.skipped).toBe(8);
      expect(stats.done).toBe(12);
      expect(stats.distributed?.duplicates).toBe(4);
    } finally {
      await again.close();
    }
    const rows = (await readFile(output, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(rows.map((row) => row.double)).toEqual(DATA.map((d) => d.n * 2));
    expect(runKeys(await redis().dump())).toEqual([]);
  });

  it('collects a result completed while no coordinator ran, without sending its chunk again', async () => {
    const output = join(await tempDir(), 'out.jsonl');
    const worker = await startWorker({
      task: TASK.href,
      redis: redis().url,
      config: OFFLINE_CONFIG,
      pollIntervalMs: 50,
      logger: collectingLogger(),
    });
    let runId: string;
    try {
      runId = (await stoppedRun(output, 8)).distributed!.runId;
    } finally {
      await worker.close();
    }
    // Chunk 2 (items 8-11) ran on a worker after the coordinator stopped: its result waits in Redis.
    const early = {
      ok: true,
      i: [8, 9, 10, 11],
      results: [8, 9, 10, 11].map((n) => ({ n, double: n * 2, early: true })),
      w: 'x',
    };
    await completeInRedis(runId, 8, early);
    const again = await startWorker({
      task: TASK.href,
      redis: redis().url,
      config: OFFLINE_CONFIG,
      pollIntervalMs: 50,
      logger: collectingLogger(),
    });
    try {
      const { stats } = await run(output);
      expect(stats.done).toBe(12);
      expect(stats.distributed?.duplicates).toBe(0);
    } finally {
      await again.close();
    }
    const rows = (await readFile(output, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(rows.map((row) => row.n)).toEqual(DATA.map((d) => d.n));
    expect(rows.filter((row) => row.early).map((row) => row.n)).toEqual([8, 9, 10, 11]);
    expect(runKeys(await redis().dump())).toEqual([]);
  });
});
