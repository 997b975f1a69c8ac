/**
 * `--fresh` over a run that holds paid answers, as real child processes over the simulator: it
 * says how many answers it discards, and `status` does not call the earlier run's output file
 * this run's output.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { until } from '../helpers.js';
import { cli, readJsonl, tempDirs, writeConfig, writeJsonl } from './helpers.js';

const tempDir = tempDirs();
let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

describe('keybatch run --fresh over a finished run', () => {
  it('warns that it discards the paid answers, and status says the output on disk is an earlier run’s', async () => {
    const key = 'sk-test-cli-fresh-0001';
    sim = await startSimulator({ keys: [{ key }] });
    const dir = await tempDir();
    const config = join(dir, 'config.json');
    const input = join(dir, 'in.jsonl');
    const output = join(dir, 'out.jsonl');
    await writeConfig(config, [{ api_key: key, base_url: sim.url }]);
    await writeJsonl(
      input,
      Array.from({ length: 13 }, (_, i) => ({ id: i, prompt: `fresh ${i}` })),
    );
    const base = ['run', input, '-o', output, '-c', config, '-m', 'gpt-4o-mini', '--quiet'];
    expect((await cli(base, { cwd: dir })).code).toBe(0);
    expect(await readJsonl(output)).toHaveLength(13);
    // Status tells outputs apart by the second (file systems may keep no finer times): let one pass.
    const written = (await stat(output)).mtimeMs;
    await until(async () => Date.now() >= (Math.floor(written / 1000) + 1) * 1000, 5_000, 'the next second');

    const fresh = await cli([...base, '--fresh', '--limit', '2'], { cwd: dir });
    expect(fresh.code).toBe(3);
    expect(fresh.stderr).toContain(
      `keybatch: starting over (--fresh / resume: false): the 13 answers recorded in ${output}.keybatch are discarded (they were paid for)`,
    );

    const status = await cli(['status', output], { cwd: dir });
    expect(status.stdout).toContain('done: 2\n');
    expect(status.stdout).toMatch(/^output written: no \(.*earlier run/m);
    // The earlier output is still there, untouched, until this run writes its own.
    expect(await readJsonl(output)).toHaveLength(13);
  }, 120_000);
});
