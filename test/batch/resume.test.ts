/**
 * A killed batch run (kill -9 of a real child process) resumes the same batches: the rerun creates
 * no new file or batch (the simulator's counts), and the output has every row once, in order. A
 * stopped run leaves its batches running and says how to resume; `cancel` cancels them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { scanRunDir } from '../../src/checkpoint/index.js';
import type { Simulator } from '../../src/sim/index.js';
import { startGate } from '../gate.js';
import { TSX } from '../helpers.js';
import { readRows } from '../prompts/helpers.js';
import { type BatchSetup, useBatchSetup } from './helpers.js';

const CHILD = fileURLToPath(new URL('./child-run.ts', import.meta.url));
const setup = useBatchSetup();
const SLOW = { dayMs: 20_000, validateMs: 50, processMs: 1500, finalizeMs: 50 };

interface Child {
  proc: ChildProcess;
  stderr(): string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startChild(s: BatchSetup, args: string[] = [], pollMs?: number): Child {
  const proc = spawn(
    process.execPath,
    ['--import', TSX, CHILD, join(s.dir, 'config.json'), join(s.dir, 'in.jsonl'), s.output, ...args],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: pollMs === undefined ? process.env : { ...process.env, KEYBATCH_TEST_POLL_MS: String(pollMs) },
    },
  );
  let stderr = '';
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { proc, stderr: () => stderr, exit };
}

/** Polls `check` every 20 ms until it holds (deadline 30 s). */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const routeCount = (sim: Simulator, route: string) =>
  Object.values(sim.stats().objects.byRoute[route] ?? {}).reduce((a, b) => a + b, 0);

async function prepare(s: BatchSetup, n: number, suffix = (_: number) => ''): Promise<string[]> {
  await writeFile(join(s.dir, 'config.json'), JSON.stringify(s.config));
  const prompts = Array.from({ length: n }, (_, i) => `item ${i}${suffix(i)}`);
  await writeFile(
    join(s.dir, 'in.jsonl'),
    prompts.map((p, i) => JSON.stringify({ id: i, prompt: p })).join('\n'),
  );
  return prompts;
}

async function expectComplete(s: BatchSetup, prompts: string[]): Promise<void> {
  const rows = await readRows(s.output);
  expect(rows.map((r) => r['id'])).toEqual(prompts.map((_, i) => i));
  expect(rows.map((r) => r['response'])).toEqual(prompts.map((p) => `echo: ${p}`));
}

describe('backend batch: resume', () => {
  it('kill -9 while polling, then rerun: no new file or batch, every row once in order', async () => {
    const s = await setup({ batch: SLOW });
    const prompts = await prepare(s, 7);
    const first = startChild(s);
    await until(
      () => s.sim.stats().objects.batchesCreated === 3 && routeCount(s.sim, 'batches.get') >= 3,
      'polling',
    );
    first.proc.kill('SIGKILL');
    expect((await first.exit).signal).toBe('SIGKILL');
    const created = { ...s.sim.stats().objects };
    const second = startChild(s);
    expect(await second.exit, second.stderr()).toEqual({ code: 0, signal: null });
    const after = s.sim.stats().objects;
    expect(after.filesCreated).toBe(created.filesCreated);
    expect(after.batchesCreated).toBe(created.batchesCreated);
    await expectComplete(s, prompts);
  }, 90_000);

  it('kill -9 while polling, then rerun over the input reordered: the running batches are found by row identity, none is submitted again', async () => {
    const s = await setup({ batch: SLOW });
    const prompts = await prepare(s, 7);
    const first = startChild(s);
    await until(
      () => s.sim.stats().objects.batchesCreated === 3 && routeCount(s.sim, 'batches.get') >= 3,
      'polling',
    );
    first.proc.kill('SIGKILL');
    expect((await first.exit).signal).toBe('SIGKILL');
    const created = { ...s.sim.stats().objects };
    // The same records, last first: every chunk of the rerun holds other positions than before.
    const lines = (await readFile(join(s.dir, 'in.jsonl'), 'utf8')).split('\n').reverse();
    await writeFile(join(s.dir, 'in.jsonl'), lines.join('\n'));
    const second = startChild(s);
    expect(await second.exit, second.stderr()).toEqual({ code: 0, signal: null });
    const after = s.sim.stats().objects;
    expect(after.filesCreated, second.stderr()).toBe(created.filesCreated);
    expect(after.batchesCreated).toBe(created.batchesCreated);
    const rows = await readRows(s.output);
    expect(rows.map((r) => r['id'])).toEqual(prompts.map((_, i) => i).reverse());
    expect(rows.map((r) => r['response'])).toEqual(prompts.map((p) => `echo: ${p}`).reverse());
  }, 90_000);

  it('kill -9 during the downloads, then rerun: no new file or batch, every row once in order', async () => {
    // The kill lands while downloads are under way: a gate in front of the simulator lets the first
    // download through and holds every later one, so the run cannot have checkpointed every row,
    // however fast or slow the machine is. The rerun goes through the same gate (the batches belong
    // to that base URL), opened.
    const s = await setup({ batch: { ...SLOW, processMs: 300 } });
    const prompts = await prepare(s, 7);
    let downloads = 0;
    const gate = await startGate(s.sim.url, ({ method, url }) => {
      if (method !== 'GET' || !/\/files\/[^/]+\/content/.test(url)) return false;
      downloads += 1;
      return downloads > 1;
    });
    try {
      const through = { key_list: s.config.key_list.map((key) => ({ ...key, base_url: gate.url })) };
      await writeFile(join(s.dir, 'config.json'), JSON.stringify(through));
      const first = startChild(s);
      await until(
        () => gate.held() >= 1 && s.sim.stats().objects.batchesCreated === 3,
        'three batches and a download held',
      );
      first.proc.kill('SIGKILL');
      expect((await first.exit).signal).toBe('SIGKILL');
      expect((await scanRunDir(`${s.output}.keybatch`)).done.size).toBeLessThan(prompts.length);
      gate.release();
      const created = { ...s.sim.stats().objects };
      expect(created.batchesCreated).toBe(3);
      const second = startChild(s);
      expect(await second.exit, second.stderr()).toEqual({ code: 0, signal: null });
      const after = s.sim.stats().objects;
      expect(after.filesCreated).toBe(created.filesCreated);
      expect(after.batchesCreated).toBe(3);
      await expectComplete(s, prompts);
    } finally {
      gate.release();
      await gate.close();
    }
  }, 90_000);

  it('the first SIGINT leaves the batches running and says how to resume; a rerun with cancel cancels them', async () => {
    const s = await setup({ batch: { ...SLOW, dayMs: 120_000, processMs: 60_000 } });
    await prepare(s, 4);
    const first = startChild(s);
    await until(
      () => s.sim.stats().objects.batchesCreated === 2 && routeCount(s.sim, 'batches.get') >= 2,
      'polling',
    );
    first.proc.kill('SIGINT');
    expect((await first.exit).code).toBe(3);
    expect(first.stderr()).toContain(
      '2 batch(es) of this run keep running on the API; rerun the same command to resume polling them, or add --cancel to cancel them',
    );
    expect(s.sim.stats().objects.batchesCancelled).toBe(0);
    const cancel = startChild(s, ['cancel']);
    expect((await cancel.exit).code).toBe(3);
    expect(s.sim.stats().objects.batchesCancelled).toBe(2);
    expect(s.sim.stats().objects.batchesCreated).toBe(2);
    const state = JSON.parse(await readFile(join(`${s.output}.keybatch`, 'batches.json'), 'utf8'));
    const states = state.groups.flatMap((g: { shards: Array<{ state: string }> }) =>
      g.shards.map((sh) => sh.state),
    );
    expect(states).toEqual(['cancelled', 'cancelled']);
  }, 90_000);

  it('a cancel is polled at --poll-interval, not every second, while the batches take their time to cancel', async () => {
    // Cancelling takes the simulator's finalizeMs: 7 s here.
    const s = await setup({ batch: { ...SLOW, dayMs: 120_000, processMs: 60_000, finalizeMs: 7000 } });
    await prepare(s, 4);
    const first = startChild(s);
    await until(() => s.sim.stats().objects.batchesCreated === 2, 'two batches');
    first.proc.kill('SIGINT');
    expect((await first.exit).code).toBe(3);
    const polledBefore = routeCount(s.sim, 'batches.get');
    const cancel = startChild(s, ['cancel'], 3000);
    expect((await cancel.exit).code).toBe(3);
    expect(s.sim.stats().objects.batchesCancelled).toBe(2);
    // Two batches over about 7 s: polled at 0, 3, 9 s (backing off) is 3 each; every second would be 8 each.
    expect(routeCount(s.sim, 'batches.get') - polledBefore).toBeLessThanOrEqual(8);
  }, 90_000);

  it('after cancel, a rerun without it submits what the cancelled batches left unanswered and completes', async () => {
    // Items 2 and 3 (one in each batch: chunks of 3) never complete the first time they are sent,
    // so both batches stay in progress until cancelled, however long the children take to start
    // (their window, 120 s, outlasts the test). Before, the batches finished on their own in 4 s
    // when a loaded machine started the cancelling child late: nothing was left to cancel.
    const s = await setup({ batch: { ...SLOW, dayMs: 120_000 } });
    const prompts = await prepare(s, 4, (i) => (i >= 2 ? ' [[sim:expirex1]]' : ''));
    const first = startChild(s);
    await until(() => s.sim.stats().objects.batchesCreated === 2, 'two batches');
    first.proc.kill('SIGINT');
    expect((await first.exit).code).toBe(3);
    const cancel = startChild(s, ['cancel']);
    expect((await cancel.exit).code).toBe(3);
    expect(s.sim.stats().objects.batchesCancelled).toBe(2);
    const rerun = startChild(s);
    expect(await rerun.exit, rerun.stderr()).toEqual({ code: 0, signal: null });
    await expectComplete(s, prompts);
    // Only the unanswered lines went out again: one new batch per chunk.
    expect(s.sim.stats().objects.batchesCreated).toBe(4);
  }, 90_000);
});
