/** The results viewer's rows: from lane files while a run goes (torn last line and all), then from the output. */
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { failuresByCode, parseRowsQuery, RowReader, tokensOf } from '../../src/ui/rows.js';
import { useTempDir } from '../helpers.js';

const tempDir = useTempDir();
/** Rebuild the index whenever a file changed (the dashboard waits between rebuilds). */
const NO_WAIT = { minAgeMs: 0, costFactor: 0 };

const row = (i: number, text: string, extra: Record<string, unknown> = {}) => ({
  id: `item-${i}`,
  system_prompt: null,
  prompt: `prompt ${i}`,
  response: text,
  model: 'gpt-4o-mini',
  usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
  finish_reason: 'stop',
  ...extra,
});
const line = (record: unknown) => `${JSON.stringify(record)}\n`;

async function runDir() {
  const dir = await tempDir();
  const output = join(dir, 'out.jsonl');
  const checkpoint = `${output}.keybatch`;
  await mkdir(checkpoint);
  return { dir, output, checkpoint };
}

const query = (params: Record<string, string>) => parseRowsQuery(new URLSearchParams(params));

describe('RowReader', () => {
  it('pages the lane files by item, a later success over a failure, skipping a torn last line', async () => {
    const { output, checkpoint } = await runDir();
    await writeFile(
      join(checkpoint, 'worker-0.jsonl'),
      line({ i: 0, r: row(0, 'answer zero') }) +
        line({ i: 6, r: row(6, 'answer six') }) +
        line({ i: 2, e: { name: 'APIError', message: 'busy', code: null, status: 503 } }) +
        line({
          i: 4,
          r: { id: 'item-4', prompt: 'prompt 4', error: { status: 400, code: 'bad', message: 'no' } },
        }),
    );
    await writeFile(
      join(checkpoint, 'worker-1.jsonl'),
      line({ i: 1, r: row(1, 'answer one') }) +
        line({ i: 2, r: row(2, 'answer two, after a retry') }) +
        // A failure recorded after a success of the same item (a lane that did not know) changes nothing.
        line({ i: 6, e: { name: 'APIError', message: 'late', code: null, status: 500 } }) +
        line({
          i: 3,
          e: { name: 'RateLimitError', message: 'slow down', code: 'rate_limit_exceeded', status: 429 },
        }),
    );
    // Another process is in the middle of writing item 5.
    await appendFile(join(checkpoint, 'worker-1.jsonl'), '{"i":5,"r":{"id":"item-5","pro');
    const reader = new RowReader(() => ({ output, checkpoint, merged: false }), NO_WAIT);

    const all = await reader.page(query({}));
    expect(all.from).toBe('checkpoint');
    expect(all.matched).toBe(6);
    expect(all.rows.map((entry) => entry.i)).toEqual([0, 1, 2, 3, 4, 6]);
    expect(all.rows[2]!.row).toMatchObject({ response: 'answer two, after a retry' });
    expect(all.rows[3]).toMatchObject({ code: 'rate_limit_exceeded', row: { error: { status: 429 } } });

    const failed = await reader.page(query({ filter: 'failed' }));
    expect(failed.rows.map((entry) => [entry.i, entry.code])).toEqual([
      [3, 'rate_limit_exceeded'],
      [4, 'bad'],
    ]);
    expect((await reader.page(query({ filter: 'code:bad' }))).rows.map((e) => e.i)).toEqual([4]);
    expect((await reader.page(query({ filter: 'answered' }))).rows.map((e) => e.i)).toEqual([0, 1, 2, 6]);
    expect((await reader.page(query({ q: 'AFTER A RETRY' }))).rows.map((e) => e.i)).toEqual([2]);
    const second = await reader.page(query({ offset: '2', limit: '2' }));
    expect([second.matched, second.rows.map((e) => e.i)]).toEqual([6, [2, 3]]);

    const index = await reader.current(true);
    expect(failuresByCode(index)).toEqual({ rate_limit_exceeded: 1, bad: 1 });
    expect(tokensOf(index)).toBe(20);

    // The torn line completed: item 5 appears.
    await appendFile(join(checkpoint, 'worker-1.jsonl'), 'mpt":"prompt 5","response":"five"}}\n');
    expect((await reader.page(query({}))).matched).toBe(7);
  });

  it('reads the merged output once the run is complete', async () => {
    const { output, checkpoint } = await runDir();
    await writeFile(
      output,
      line(row(0, 'zero')) +
        line({ id: 'item-1', prompt: 'p', error: { status: 404, code: null, message: 'x' } }),
    );
    const reader = new RowReader(() => ({ output, checkpoint, merged: true }), NO_WAIT);
    const page = await reader.page(query({}));
    expect(page.from).toBe('output');
    expect(page.rows).toEqual([
      { i: 0, row: row(0, 'zero') },
      {
        i: 1,
        code: '404',
        row: { id: 'item-1', prompt: 'p', error: { status: 404, code: null, message: 'x' } },
      },
    ]);
  });

  it('answers an empty page for a run directory with no lane file yet', async () => {
    const { output, checkpoint } = await runDir();
    const page = await new RowReader(() => ({ output, checkpoint, merged: false }), NO_WAIT).page(query({}));
    expect(page).toEqual({ matched: 0, offset: 0, rows: [], from: 'none' });
  });
});
