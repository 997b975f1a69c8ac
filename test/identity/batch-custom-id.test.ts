// The Batch backend names each line by its row identity (custom_id), and maps the answers back by it.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runPrompts } from '../../src/prompts/index.js';
import { KEYS, useBatchSetup } from '../batch/helpers.js';
import { readRows } from '../prompts/helpers.js';

const setup = useBatchSetup();

describe('backend batch: custom_id', () => {
  it('is the row identity (64 hex, fits every provider), one line per distinct request, rows back in place', async () => {
    const s = await setup({}, [KEYS[2]]);
    const records = [
      { id: 'a', prompt: 'alpha' },
      { id: 'b', prompt: 'bravo' },
      { id: 'a2', prompt: 'alpha' },
    ];
    await runPrompts(s.config, records, s.options({ backend: 'batch' }));
    const rows = await readRows(s.output);
    expect(rows.map((r) => [r['id'], r['response']])).toEqual([
      ['a', 'echo: alpha'],
      ['b', 'echo: bravo'],
      ['a2', 'echo: alpha'],
    ]);
    const state = JSON.parse(await readFile(join(`${s.output}.keybatch`, 'batches.json'), 'utf8')) as {
      groups: Array<{ shards: Array<{ fileId: string }> }>;
    };
    const fileIds = state.groups.flatMap((group) => group.shards.map((shard) => shard.fileId));
    const customIds: string[] = [];
    for (const fileId of fileIds) {
      const answer = await fetch(`${s.sim.url}/files/${fileId}/content`, {
        headers: { authorization: `Bearer ${KEYS[2].key}` },
      });
      for (const line of (await answer.text()).split('\n').filter(Boolean)) {
        customIds.push((JSON.parse(line) as { custom_id: string }).custom_id);
      }
    }
    expect(customIds).toHaveLength(2);
    for (const id of customIds) expect(id).toMatch(/^[0-9a-f]{64}$/);
  });
});
