import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { until, useTempDir } from '../helpers.js';
import { checkpointLines, startPipelineChild } from './pipeline-child.js';

const tempDir = useTempDir();
let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const start = startPipelineChild;

/** A simulator with one key, a config.json for it, and an input of `n` items in a temp dir. */
async function setUp(key: string, n: number, latencyMs: number | { min: number; max: number }) {
  const simulator = await startSimulator({ keys: [{ key }], latencyMs });
  sim = simulator;
  const dir = await tempDir();
  const config = join(dir, 'config.json');
  const input = join(dir, 'in.jsonl');
  await writeFile(config, JSON.stringify({ key_list: [{ api_key: key, base_url: simulator.url }] }));
  await writeFile(
    input,
    Array.from({ length: n }, (_, i) => JSON.stringify({ text: `item ${i}` })).join('\n') + '\n',
  );
  return { simulator, config, input, output: join(dir, 'out.jsonl') };
}

describe('kill -9 and resume', () => {
  it('after three SIGKILLs at random moments and a final rerun, every item is in the output exactly once, in order', async () => {
    const n = 150;
    const inFlightMax = 3 * 2; // workers × chunkSize (concurrency 1)
    const { simulator, config, input, output } = await setUp('sk-test-kill-0001', n, { min: 20, max: 60 });

    // Three kill points at random, spread over the run: each after some more records are in.
    const points = [0.15, 0.4, 0.65].map((at) => Math.floor(n * (at + Math.random() * 0.15)));
    for (const point of points) {
      const run = start([config, input, output]);
      await until(
        async () => (await checkpointLines(`${output}.keybatch`)) >= point,
        30_000,
        `${point} records`,
      );
      run.proc.kill('SIGKILL');
      expect((await run.exited).code).toBe(null);
    }
    const final = start([config, input, output]);
    expect((await final.exited).code).toBe(0);
    expect(JSON.parse(final.out())).toMatchObject({ skipped: expect.any(Number) });

    const lines = (await readFile(output, 'utf8'))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toEqual(
      Array.from({ length: n }, (_, i) => ({ text: `item ${i}`, answer: `echo: item ${i}` })),
    );

    const answered = simulator.stats().answered;
    const redone = Object.values(answered).reduce((sum, count) => sum + (count - 1), 0);
    expect(Object.keys(answered)).toHaveLength(n);
    expect(redone).toBeLessThanOrEqual(points.length * inFlightMax);
  }, 90_000);
});
