/**
 * `keybatch run --budget` and `--limit` as real child processes over the simulator: a budget stop
 * is exit 3 saying what was spent and what is left, a larger budget completes, the spent figure is
 * rebuilt from the checkpoint after kill -9, and a budget on a model with no price is one line, exit 2.
 */

import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readResults } from '../../src/checkpoint/index.js';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { CostTally, formatUsd } from '../../src/tokens/cost.js';
import { priceTable } from '../../src/tokens/prices.js';
import { until } from '../helpers.js';
import { checkpointLines, cli, readJsonl, startCli, tempDirs, writeConfig, writeJsonl } from './helpers.js';

const tempDir = tempDirs();
let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});
const lines = (text: string) => text.trimEnd().split('\n');

async function setup(key: string, records: unknown[]) {
  sim = await startSimulator({ keys: [{ key }], models: ['house-model'] });
  const dir = await tempDir();
  const config = join(dir, 'config.json');
  const input = join(dir, 'in.jsonl');
  const output = join(dir, 'out.jsonl');
  await writeConfig(config, [{ api_key: key, base_url: sim.url }]);
  await writeJsonl(input, records);
  return { sim, dir, output, base: ['run', input, '-o', output, '-c', config] };
}

/** What the checkpoint's answers cost, as the test computes it from the rows. */
async function spentIn(output: string): Promise<number> {
  const rows = new Map<number, unknown>();
  await readResults(`${output}.keybatch`, (i, value) => rows.set(i, value));
  const tally = new CostTally(priceTable());
  for (const row of rows.values()) tally.addRow(row);
  return tally.summary.knownUsd;
}

const records = (n: number, tag = '') =>
  Array.from({ length: n }, (_, i) => ({ id: i, prompt: `budget ${i}${tag}`, max_tokens: 64 }));

describe('keybatch run --budget', () => {
  it('stops with exit 3 saying what was spent and what is left; a larger budget completes', async () => {
    const { sim, dir, output, base } = await setup('sk-test-cli-budget-0001', records(30));
    const args = [...base, '-m', 'gpt-4o-mini', '--workers', '1', '--concurrency', '2'];
    const first = await cli([...args, '--budget', '0.0001'], { cwd: dir });
    expect(first.code).toBe(3);
    const last = lines(first.stderr).at(-1)!;
    expect(last).toMatch(
      /^keybatch: stopped: budget \$0\.000100 reached: spent \$0\.\d+, \$0\.\d+ left; the next request may cost \$0\.\d+( \(rerun with a larger --budget to continue\)|, and \d requests? in flight held \$0\.\d+ of estimates when it stopped \(each holds its output at max_tokens until answered\); rerun with a larger --budget to continue); rerun the same command to resume: /,
    );
    const sent = sim.requests().length;
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThan(30);
    const spent = await spentIn(output);
    expect(last).toContain(`spent ${formatUsd(spent)}`);
    expect(first.stderr).toMatch(/ {2}cost {6}\$0\.\d+/);
    expect(first.stderr).toContain(`  budget    $0.000100: ${formatUsd(spent)} spent over all runs`);

    const second = await cli([...args, '--budget', '1'], { cwd: dir });
    expect(second.code).toBe(0);
    expect(sim.requests()).toHaveLength(30);
    expect(await readJsonl(output)).toHaveLength(30);
  }, 120_000);

  it('the spent figure survives kill -9: it is rebuilt from the checkpoint', async () => {
    const slow = records(40, ' [[sim:sleep=100]]');
    const { sim, dir, output, base } = await setup('sk-test-cli-budget-0002', slow);
    const args = [...base, '-m', 'gpt-4o-mini', '--workers', '1', '--concurrency', '2'];
    const run = startCli(args, { cwd: dir });
    await until(
      async () => (await checkpointLines(`${output}.keybatch`)) >= 4,
      30_000,
      'four rows checkpointed',
    );
    run.proc.kill('SIGKILL');
    expect((await run.done).signal).toBe('SIGKILL');
    const spent = await spentIn(output);
    expect(spent).toBeGreaterThan(0);
    const sent = sim.requests().length;

    // A budget of exactly what the killed run spent: nothing more may be sent.
    const again = await cli([...args, '--budget', String(spent)], { cwd: dir });
    expect(again.code).toBe(3);
    expect(lines(again.stderr).at(-1)).toContain(`spent ${formatUsd(spent)}, $0 left`);
    expect(sim.requests()).toHaveLength(sent);

    const status = await cli(['status', output], { cwd: dir });
    expect(status.stdout).toContain(`cost: ${formatUsd(spent)}\n`);
  }, 120_000);

  it('a budget on a model with no price is refused with one line, exit 2, nothing sent', async () => {
    const { sim, dir, base } = await setup('sk-test-cli-budget-0003', records(3));
    const result = await cli([...base, '-m', 'house-model', '--budget', '5'], { cwd: dir });
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toEqual([
      expect.stringMatching(
        /^keybatch: --budget: no price for model house-model, so its cost is unknown; add it to config\.json "prices"/,
      ),
    ]);
    expect(sim.requests()).toHaveLength(0);
    const dry = await cli([...base, '-m', 'house-model', '--budget', '5', '--dry-run'], { cwd: dir });
    expect(dry.code).toBe(2);
    expect(lines(dry.stderr)).toHaveLength(1);
  }, 120_000);

  it('--budget with --batch is refused with one line in the flags’ names and the README’s reason, exit 2, nothing sent', async () => {
    const { sim, dir, base } = await setup('sk-test-cli-budget-0004', records(3));
    const result = await cli([...base, '-m', 'gpt-4o-mini', '--batch', '--budget', '5'], { cwd: dir });
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toEqual([
      expect.stringMatching(
        /^keybatch: --budget cannot be used with --batch: a batch is billed for all its rows once submitted, /,
      ),
    ]);
    expect(result.stderr).not.toMatch(/budgetUsd|backend|not priced/);
    expect(sim.requests()).toHaveLength(0);
  }, 120_000);
});

describe('keybatch run --limit', () => {
  it('runs a sample of N, exit 3; the same command without it continues the same run', async () => {
    const { sim, dir, output, base } = await setup('sk-test-cli-limit-0001', records(8));
    const args = [...base, '-m', 'gpt-4o-mini'];
    const sample = await cli([...args, '--limit', '3'], { cwd: dir });
    expect(sample.code).toBe(3);
    expect(lines(sample.stderr).at(-1)).toMatch(
      /^keybatch: stopped: --limit 3 reached; rerun the same command to resume/,
    );
    expect(sim.requests()).toHaveLength(3);
    const rest = await cli(args, { cwd: dir });
    expect(rest.code).toBe(0);
    expect(sim.requests()).toHaveLength(8);
    expect((await readJsonl(output)).map((row) => row.id)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  }, 120_000);
});
