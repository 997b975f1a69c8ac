// Prompt rows known by their request: reruns over a changed input send only new requests, counted
// by the simulator (`stats().requests`), never by keybatch.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readRunStatus } from '../../src/pipeline/status.js';
import { runPrompts } from '../../src/prompts/index.js';
import { readRows, usePromptSetup } from '../prompts/helpers.js';

const setup = usePromptSetup();
const jsonl = (records: unknown[]) => records.map((r) => JSON.stringify(r)).join('\n') + '\n';
const prompts = (from: number, n: number) =>
  Array.from({ length: n }, (_, k) => ({ id: `r${from + k}`, prompt: `question ${from + k}` }));

describe('rows known by their request', () => {
  it('10,000 rows; then append 100 -> 100 requests, edit 5 -> 5, reorder -> 0 in the new order, delete 10 -> 0 and 10 rows fewer', async () => {
    const s = await setup({ latencyMs: 0 });
    const input = join(s.dir, 'in.jsonl');
    const options = s.options({ workers: 2, concurrency: 16 });
    const requests = () => s.sim.stats().requests;
    const run = async (records: Array<{ id: string; prompt: string }>) => {
      await writeFile(input, jsonl(records));
      const before = requests();
      const summary = await runPrompts(s.config, input, options);
      return { summary, sent: requests() - before };
    };

    let records = prompts(0, 10_000);
    expect((await run(records)).sent).toBe(10_000);

    records = [...records, ...prompts(10_000, 100)];
    const appended = await run(records);
    expect(appended.sent).toBe(100);
    expect(appended.summary).toMatchObject({ total: 10_100, done: 100, skipped: 10_000 });

    for (const k of [3, 999, 4321, 7000, 10_050]) {
      records[k] = { id: records[k]!.id, prompt: `${records[k]!.prompt} (edited)` };
    }
    expect((await run(records)).sent).toBe(5);

    const reordered = [...records].reverse();
    expect((await run(reordered)).sent).toBe(0);
    const rows = await readRows(s.output);
    expect(rows.map((r) => r['id'])).toEqual(reordered.map((r) => r.id));
    expect(rows.map((r) => r['response'])).toEqual(reordered.map((r) => `echo: ${r.prompt}`));

    const deleted = reordered.filter((_, k) => k % 1010 !== 7);
    expect(deleted).toHaveLength(10_090);
    const shrunk = await run(deleted);
    expect(shrunk.sent).toBe(0);
    const after = await readRows(s.output);
    expect(after).toHaveLength(10_090);
    expect(after.map((r) => r['id'])).toEqual(deleted.map((r) => r.id));
  }, 180_000);

  it('1,000 rows of which 100 are distinct -> 100 requests and 1,000 rows, each with its own id', async () => {
    const s = await setup({ latencyMs: 0 });
    const records = Array.from({ length: 1000 }, (_, k) => ({ id: k * 7, prompt: `question ${k % 100}` }));
    const summary = await runPrompts(s.config, records, s.options({ workers: 2, concurrency: 8 }));
    expect(s.sim.stats().requests).toBe(100);
    expect(summary).toMatchObject({ total: 1000, done: 1000, failed: 0 });
    const rows = await readRows(s.output);
    expect(rows.map((r) => r['id'])).toEqual(records.map((r) => r.id));
    expect(rows.map((r) => r['response'])).toEqual(records.map((r) => `echo: ${r.prompt}`));
    expect(await readRunStatus(s.output)).toMatchObject({ total: 1000, done: 1000, failed: 0, pending: 0 });
  });

  it('rows without ids keep their own position as id when duplicated or moved', async () => {
    const s = await setup({ latencyMs: 0 });
    await runPrompts(s.config, [{ prompt: 'a' }, { prompt: 'b' }], s.options());
    await runPrompts(s.config, [{ prompt: 'b' }, { prompt: 'a' }, { prompt: 'b' }], s.options());
    expect(s.sim.stats().requests).toBe(2);
    const rows = await readRows(s.output);
    expect(rows.map((r) => [r['id'], r['response']])).toEqual([
      [0, 'echo: b'],
      [1, 'echo: a'],
      [2, 'echo: b'],
    ]);
  });

  it('the Batch API output format puts each position in its own custom_id', async () => {
    const s = await setup({ latencyMs: 0 });
    const records = [
      { id: 'x', prompt: 'same' },
      { id: 'y', prompt: 'same' },
    ];
    await runPrompts(s.config, records, s.options({ format: 'batch' }));
    expect(s.sim.stats().requests).toBe(1);
    const rows = await readRows(s.output);
    expect(rows.map((r) => [r['id'], r['custom_id']])).toEqual([
      ['batch_req_0', 'x'],
      ['batch_req_1', 'y'],
    ]);
  });
});
