/**
 * The Batch backend with a schema: the downloaded answers are checked as online ones are, invalid
 * ones re-asked online through the pool, and the rows are those of the online backend.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runPrompts } from '../../src/prompts/index.js';
import { comparable, useBatchSetup } from '../batch/helpers.js';
import { readRows } from '../prompts/helpers.js';
import { fates, PERSON, SCENARIO } from './helpers.js';

const setup = useBatchSetup();
const ROWS = 200;
const prompts = Array.from({ length: ROWS }, (_, i) => `batch person ${i}`);

describe('structured outputs on the Batch backend', () => {
  it('gives the same rows as the online backend for the same scenario, invalid answers re-asked online', async () => {
    const s = await setup({ structured: SCENARIO });
    const records = prompts.map((prompt, i) => ({ id: `r${i}`, prompt }));
    const online = join(s.dir, 'online.jsonl');
    await runPrompts(s.config, records, s.options({ output: online, schema: PERSON }));
    const onlineRows = await readRows(online);
    s.sim.resetStats();

    const summary = await runPrompts(
      s.config,
      records,
      s.options({ backend: 'batch', schema: PERSON, shardMaxRequests: 100 }),
    );
    const batchRows = await readRows(s.output);
    expect(comparable(batchRows)).toEqual(comparable(onlineRows));

    const expected = fates(prompts);
    expect(expected['invalid']).toBeGreaterThan(0);
    // Every invalid first answer came from a batch; its re-ask went online, once.
    const online2 = s.sim.requests().filter((r) => r.path === '/v1/chat/completions');
    expect(online2).toHaveLength(expected['invalid'] ?? 0);
    for (const r of online2) {
      const messages = (r.body as { messages: Array<{ role: string; content: string }> }).messages;
      expect(messages.at(-1)?.content).toMatch(/does not match the required JSON schema/);
    }
    const failed = (expected['truncated'] ?? 0) + (expected['refused'] ?? 0) + (expected['filtered'] ?? 0);
    expect(summary).toMatchObject({ total: ROWS, failed, done: ROWS - failed });
    expect(batchRows.filter((row) => row['parsed'] !== undefined)).toHaveLength(ROWS - failed);
  }, 120_000);
});
