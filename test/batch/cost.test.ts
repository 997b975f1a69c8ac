/**
 * What a Batch API run cost: its answers at Batch API prices (half the online price) in the
 * summary and in `keybatch status`, the same answers online at the full price.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { statusCommand } from '../../src/cli/status.js';
import { runPrompts } from '../../src/prompts/index.js';
import type { PromptInput } from '../../src/prompts/input.js';
import { readCheckpointCost } from '../../src/prompts/run-spend.js';
import { useBatchSetup } from './helpers.js';

const setup = useBatchSetup();
const records: PromptInput[] = ['alpha', 'bravo', 'charlie', 'delta'].map((prompt) => ({
  id: prompt,
  prompt,
}));

async function statusJson(output: string): Promise<{ cost: { usd: number | null } }> {
  const write = process.stdout.write.bind(process.stdout);
  let text = '';
  process.stdout.write = ((chunk: string) => {
    text += chunk;
    return true;
  }) as typeof process.stdout.write;
  try {
    await statusCommand(output, { json: true });
  } finally {
    process.stdout.write = write;
  }
  return JSON.parse(text);
}

describe('cost of a Batch API run', () => {
  it('is half the online cost of the same answers, in the summary and in keybatch status', async () => {
    const s = await setup();
    const onlineOutput = join(s.dir, 'online.jsonl');
    const online = await runPrompts(s.config, records, s.options({ output: onlineOutput }));
    const batch = await runPrompts(s.config, records, s.options({ backend: 'batch' }));
    expect(online.cost.usd).toBeGreaterThan(0);
    // The simulator answers deterministically from the content: the same usage both ways.
    expect(batch.cost.usd).toBeCloseTo(online.cost.usd! / 2, 12);
    expect((await statusJson(s.output)).cost.usd).toBeCloseTo(online.cost.usd! / 2, 12);
    expect((await statusJson(onlineOutput)).cost.usd).toBeCloseTo(online.cost.usd!, 12);
    expect((await readCheckpointCost(`${onlineOutput}.keybatch`)).usd).toBeCloseTo(online.cost.usd!, 12);
  }, 60_000);
});
