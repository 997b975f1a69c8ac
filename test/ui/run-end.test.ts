/**
 * The read-only dashboard (`keybatch ui <output>`) of a run as it ends. The run marks its
 * checkpoint complete, then merges the output: until the output is written, while the run still
 * holds its directory's lock, the page must not call the run finished (it would end its event
 * stream and keep the checkpoint's rows for good); once the output is there, the rows come from it
 * at once, not after the row index's rebuild delay.
 */
import { once } from 'node:events';
import { rename } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireRunLock } from '../../src/checkpoint/lock.js';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { RunDirSource } from '../../src/ui/run-dir.js';
import { tempDirs } from '../cli/helpers.js';
import { finishedPromptRun } from './helpers.js';

const KEY = 'sk-test-ui-run-end-key-dddd-5001';
const tempDir = tempDirs();
let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator({ keys: [{ key: KEY }] });
});
afterAll(async () => {
  await sim?.close();
});

/** A finished run of three prompts: its output path and run directory. */
async function finishedRun(): Promise<{ output: string; runDir: string }> {
  const output = await finishedPromptRun({
    dir: await tempDir(),
    url: sim.url,
    key: KEY,
    count: 3,
    id: 'end',
    prompt: 'ending prompt',
  });
  return { output, runDir: `${output}.keybatch` };
}

const page = (source: RunDirSource) => source.rows({ offset: 0, limit: 10, filter: 'all', q: '' });

/** Resolves once the tracker says `state`. */
async function stateBecomes(source: RunDirSource, state: string): Promise<void> {
  while (source.tracker.summary.state !== state) await once(source.tracker, 'change');
}

describe('the read-only dashboard of a run that ends', () => {
  it('is not finished while the run, still holding its lock, merges the output; then its rows come from the output at once', async () => {
    const { output, runDir } = await finishedRun();
    // The moment between "complete" and the merged output: the output not there yet, the lock held.
    await rename(output, `${output}.merging`);
    const lock = await acquireRunLock(runDir);
    let source: RunDirSource | undefined;
    try {
      source = await RunDirSource.open(output, { intervalMs: 50 });
      expect(source.tracker.summary.state).toBe('running');
      expect((await page(source)).from).toBe('checkpoint');
      await rename(`${output}.merging`, output);
      await stateBecomes(source, 'finished');
      const rows = await page(source);
      expect(rows.from).toBe('output');
      expect(rows.rows.map((r) => (r.row as { id: string }).id)).toEqual(['end-0', 'end-1', 'end-2']);
    } finally {
      source?.close();
      await lock.release();
    }
  }, 60_000);

  it('a complete run whose writer is gone is finished without its output (deleted since): rows from the checkpoint', async () => {
    const { output } = await finishedRun();
    await rename(output, `${output}.moved`);
    const source = await RunDirSource.open(output, { intervalMs: 50 });
    try {
      expect(source.tracker.summary.state).toBe('finished');
      expect((await page(source)).from).toBe('checkpoint');
    } finally {
      source.close();
    }
  }, 60_000);
});
