// The dashboard's row index counts no tokens for rows answered from the response cache.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildRowIndex } from '../../src/ui/row-index.js';
import { useTempDir } from '../helpers.js';

const tempDir = useTempDir();
const row = (id: number, cached: boolean) =>
  JSON.stringify({
    id,
    response: 'echo',
    usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
    finish_reason: 'stop',
    ...(cached ? { cached: true } : {}),
  });

describe('dashboard rows', () => {
  it('a cached row costs no tokens; a sent one its usage', async () => {
    const dir = await tempDir();
    const output = join(dir, 'out.jsonl');
    await writeFile(output, `${row(0, false)}\n${row(1, true)}\n`);
    const index = await buildRowIndex({ output, checkpoint: `${output}.keybatch`, merged: true });
    expect(index.entries.map((entry) => entry.tokens)).toEqual([5, 0]);
  });
});
