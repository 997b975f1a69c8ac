import { describe, expect, it } from 'vitest';
import { InputError, KeybatchError } from '../../src/errors.js';
import { type RunSummary, runPrompts } from '../../src/prompts/index.js';
import { CostTally } from '../../src/tokens/cost.js';
import { priceTable } from '../../src/tokens/prices.js';
import { startGate } from '../gate.js';
import { until } from '../helpers.js';
import { readRows, usePromptSetup } from './helpers.js';

const setup = usePromptSetup();

/** What the rows of an output or checkpoint cost, at the table's prices. */
function rowsCost(rows: unknown[]): { usd: number; max: number } {
  const tally = new CostTally(priceTable());
  let max = 0;
  for (const row of rows) max = Math.max(max, tally.addRow(row) ?? 0);
  return { usd: tally.summary.knownUsd, max };
}

const prompts = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    id: i,
    prompt: `Say something about the number ${i}.`,
    max_tokens: 64,
  }));

async function stopped(run: Promise<RunSummary>): Promise<KeybatchError & { summary: RunSummary }> {
  const error = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(KeybatchError);
  return error as KeybatchError & { summary: RunSummary };
}

describe('runPrompts budgetUsd', () => {
  it('stops before the cap (overshoot at most the requests in flight), then a larger budget completes', async () => {
    const s = await setup({ latencyMs: 20 });
    const workers = 2;
    const concurrency = 3;
    const input = prompts(60);
    const budgetUsd = 0.0002;
    const error = await stopped(runPrompts(s.config, input, s.options({ budgetUsd, workers, concurrency })));
    expect(error.code).toBe('BUDGET_REACHED');
    expect(error.message).toMatch(/^stopped: budget \$0\.000200 reached: spent \$0\.\d+, \$0(\.\d+)? left; /);
    const sent = s.sim.requests().length;
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThan(input.length);

    // What was spent is what the answers' usage says, and passes the cap by at most what was in flight.
    const { usd, max } = rowsCost(error.summary ? await checkpointRows(s.output) : []);
    expect(error.summary.cost.usd).toBe(usd);
    expect(error.summary.budget?.spentUsd).toBe(usd);
    expect(usd - budgetUsd).toBeLessThanOrEqual(workers * concurrency * max);

    // A budget of what was spent: the checkpoint's spend counts, so nothing more is sent.
    const again = await stopped(
      runPrompts(s.config, input, s.options({ budgetUsd: usd, workers, concurrency })),
    );
    expect(again.code).toBe('BUDGET_REACHED');
    expect(s.sim.requests().length).toBe(sent);
    expect(again.summary.budget).toEqual({ capUsd: usd, spentUsd: usd, leftUsd: 0 });

    // A larger budget continues and completes.
    const summary = await runPrompts(s.config, input, s.options({ budgetUsd: 1, workers, concurrency }));
    expect(summary.done + summary.skipped).toBe(input.length);
    expect(s.sim.requests().length).toBe(input.length);
    const rows = await readRows(s.output);
    expect(rows).toHaveLength(input.length);
    expect(summary.budget?.spentUsd).toBe(rowsCost(rows).usd);
  }, 60_000);

  it('a stop while reservations hold the budget says so: what the requests in flight held, not only what is left', async () => {
    const s = await setup();
    // Two requests in flight, held by the gate, each reserving its output at max_tokens 4000
    // (~$0.0024 at gpt-4o-mini's price): a third does not fit a $0.005 budget, then they settle to cents' fractions.
    const gate = await startGate(s.sim.url, () => true);
    try {
      const config = { key_list: s.config.key_list.map((key) => ({ ...key, base_url: gate.url })) };
      const input = Array.from({ length: 6 }, (_, i) => ({
        id: i,
        prompt: `reserve ${i}`,
        max_tokens: 4000,
      }));
      const run = stopped(
        runPrompts(config, input, s.options({ budgetUsd: 0.005, workers: 1, concurrency: 3 })),
      );
      await until(() => gate.held() === 2, 20_000, 'two requests held');
      gate.release();
      const error = await run;
      expect(error.code).toBe('BUDGET_REACHED');
      expect(s.sim.requests()).toHaveLength(2);
      expect(error.message).toMatch(
        /^stopped: budget \$0\.005000 reached: spent \$0\.0000\d+, \$0\.004\d+ left; the next request may cost \$0\.0024\d+, and 2 requests in flight held \$0\.0048\d+ of estimates when it stopped \(each holds its output at max_tokens until answered\); rerun with a larger --budget to continue$/,
      );
    } finally {
      await gate.close();
    }
  }, 60_000);

  it('a run reports its cost; an unknown model is "unknown" and a budget on it is refused', async () => {
    const s = await setup({ models: ['gpt-4o-mini', 'house-model'] });
    const summary = await runPrompts(s.config, prompts(3), s.options());
    expect(summary.cost.usd).toBeGreaterThan(0);
    expect(summary.cost.unknownModels).toEqual([]);

    const unknown = await runPrompts(
      s.config,
      prompts(3),
      s.options({ model: 'house-model', resume: false }),
    );
    expect(unknown.cost).toEqual({ usd: null, knownUsd: 0, unknownModels: ['house-model'] });

    const before = s.sim.requests().length;
    const refused = runPrompts(
      s.config,
      prompts(3),
      s.options({ model: 'house-model', budgetUsd: 1, resume: false }),
    );
    await expect(refused).rejects.toBeInstanceOf(InputError);
    await expect(refused).rejects.toThrow(/^--budget: no price for model house-model/);
    expect(s.sim.requests().length).toBe(before);
  }, 60_000);
});

async function checkpointRows(output: string): Promise<unknown[]> {
  const { readResults } = await import('../../src/checkpoint/index.js');
  const rows = new Map<number, unknown>();
  await readResults(`${output}.keybatch`, (i, value) => rows.set(i, value));
  return [...rows.values()];
}
