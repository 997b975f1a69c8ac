/**
 * A distributed run over real processes: a coordinator and `keybatch worker` children over the
 * simulator and a real redis-server. One worker is killed -9 mid-run, the coordinator too, and
 * the rerun finishes: every item once, in input order, redone work within what the killed worker
 * had in flight; a worker that joined mid-run took work; a worker holding another version of the
 * task is refused; nothing is left in Redis.
 */
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { checkpointLines, readJsonl, writeConfig, writeJsonl } from '../cli/helpers.js';
import { until, useTempDir } from '../helpers.js';
import { useRedis } from '../redis.js';
import { runKeys, startCoordinator, startWorkerCli, useChildren } from './helpers.js';

const redis = useRedis();
const tempDir = useTempDir();
useChildren();
let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const TASK = fileURLToPath(new URL('../fixtures/distributed/pid-task.mjs', import.meta.url));
const KEY = 'sk-test-dist-kill-key-0001';
const ITEMS = 240;
const CHUNK = 4;
const KILLED_CONCURRENCY = 2;

describe('a distributed run with workers and a coordinator killed', () => {
  it('writes every item exactly once, in input order, and leaves nothing in Redis', async () => {
    // 400 ms an answer: the run lasts ~10 s at the first worker's 2 chunks × 4, long enough for a
    // second worker to start and join mid-run (nothing limits the key, so the pool does not slow it).
    sim = await startSimulator({ keys: [{ key: KEY }], latencyMs: 400 });
    const dir = await tempDir();
    const config = join(dir, 'config.json');
    await writeConfig(config, [{ api_key: KEY, base_url: sim.url }]);
    const input = join(dir, 'in.jsonl');
    await writeJsonl(
      input,
      Array.from({ length: ITEMS }, (_, n) => ({ n })),
    );
    const output = join(dir, 'out.jsonl');
    // A worker holding another version of the task module: refused.
    const otherVersion = join(dir, 'pid-task.mjs');
    await copyFile(TASK, otherVersion);
    await writeFile(otherVersion, `${await readFile(otherVersion, 'utf8')}\n// another version\n`);
    const url = redis().url;
    const workerArgs = (concurrency: number) => [
      '--redis',
      url,
      '-c',
      config,
      '--concurrency',
      String(concurrency),
    ];

    const refused = startWorkerCli([...workerArgs(2), '--task', otherVersion], dir);
    const first = startWorkerCli([...workerArgs(KILLED_CONCURRENCY), '--task', TASK], dir);
    const settings = {
      config,
      input,
      output,
      task: TASK,
      redis: url,
      chunkSize: CHUNK,
      window: 6,
      lockDurationMs: 2000,
      stalledIntervalMs: 1000,
    };
    const runDir = `${output}.keybatch`;
    const coordinator = startCoordinator(settings, dir);
    await until(async () => (await checkpointLines(runDir)) >= 30, 60_000, '30 items checkpointed');
    // Joins mid-run.
    const second = startWorkerCli([...workerArgs(3), '--task', TASK], dir);
    await until(() => /serving run/.test(second.stderr()), 120_000, 'the second worker to join');
    await until(async () => (await checkpointLines(runDir)) >= 90, 60_000, '90 items checkpointed');
    await first.kill('SIGKILL');
    await until(async () => (await checkpointLines(runDir)) >= 150, 60_000, '150 items checkpointed');
    await coordinator.kill('SIGKILL');
    expect(await checkpointLines(runDir)).toBeLessThan(ITEMS);
    // What the run keeps in Redis (registry, jobs, results, heartbeats) never holds the key.
    const held = JSON.stringify(await redis().dump());
    expect(held).toContain('keybatch:runs');
    expect(held).not.toContain(KEY);
    // At most a window of chunk jobs sits in Redis (queued, running, or done and not yet collected).
    const jobs = (await redis().dump()).filter((entry) => /^keybatch:run-\w+:\w+-\d+$/.test(entry.key));
    expect(jobs.length).toBeGreaterThan(0);
    expect(jobs.length).toBeLessThanOrEqual(settings.window);

    const rerun = startCoordinator(settings, dir);
    const { code } = await rerun.exited;
    expect(code, rerun.stderr()).toBe(0);
    const { stats } = JSON.parse(rerun.stdout()) as {
      stats: { done: number; skipped: number; distributed: { duplicates: number } };
    };
    expect(stats.done + stats.skipped).toBe(ITEMS);

    const rows = await readJsonl(output);
    expect(rows.map((row) => row['n'])).toEqual(Array.from({ length: ITEMS }, (_, n) => n));
    // Every item was answered; answered more than once only if it was in flight on the killed worker.
    const answered = sim.stats().answered;
    let redone = 0;
    for (let n = 0; n < ITEMS; n++) {
      const times = answered[`item ${n}`] ?? 0;
      expect(times, `item ${n}`).toBeGreaterThanOrEqual(1);
      redone += times - 1;
    }
    expect(redone).toBeLessThanOrEqual(KILLED_CONCURRENCY * CHUNK);
    // The worker that joined mid-run took work; the refused one none, and said why in one line.
    const byPid = (pid: number) => rows.filter((row) => row['pid'] === pid).length;
    expect(byPid(second.pid)).toBeGreaterThan(0);
    expect(byPid(refused.pid)).toBe(0);
    const refusals = refused
      .stderr()
      .split('\n')
      .filter((line) => line.includes('refused'));
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toMatch(
      /refused: its task pid-task\.mjs is version sha256 [0-9a-f]{12}; this worker's --task modules are pid-task\.mjs [0-9a-f]{12}/,
    );
    expect(rerun.stderr()).toMatch(/refused this run/);
    // Nothing left in Redis (the workers still running leave the finished run).
    await until(async () => runKeys(await redis().dump()).length === 0, 30_000, 'Redis to be empty');
    await second.kill('SIGTERM');
    await refused.kill('SIGTERM');
    expect(runKeys(await redis().dump())).toEqual([]);
  }, 240_000);
});
