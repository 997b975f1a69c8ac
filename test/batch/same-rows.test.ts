/**
 * The Batch backend gives the same rows as the online one, in input order, through the same
 * checkpoint; its shards respect the limits; 4xx lines become error rows as online.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runPrompts } from '../../src/prompts/index.js';
import type { PromptInput } from '../../src/prompts/input.js';
import { readRows } from '../prompts/helpers.js';
import { comparable, useBatchSetup } from './helpers.js';

const setup = useBatchSetup();

const records: PromptInput[] = [
  { id: 'a', prompt: 'alpha' },
  { id: 7, system: 'Be brief.', prompt: 'bravo' },
  { prompt: 'charlie' },
  {
    custom_id: 'q-4',
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'delta' }] },
  },
  { id: 'bad', prompt: 'refused [[sim:400]]' },
  { id: 'e', prompt: 'echo' },
];

describe('backend batch', () => {
  it('gives the same rows as the online backend, in input order, in shards of at most shardMaxRequests', async () => {
    const s = await setup();
    await runPrompts(s.config, records, s.options({ output: join(s.dir, 'online.jsonl') }));
    const online = await readRows(join(s.dir, 'online.jsonl'));
    const summary = await runPrompts(s.config, records, s.options({ backend: 'batch', shardMaxRequests: 2 }));
    const batch = await readRows(s.output);
    expect(comparable(batch)).toEqual(comparable(online));
    expect(batch[4]).toMatchObject({ id: 'bad', error: { status: 400 } });
    expect(summary).toMatchObject({ total: 6, done: 5, failed: 1 });
    const objects = s.sim.stats().objects;
    expect(objects.batchesCreated).toBe(3);
    expect(objects.filesCreated).toBe(3);
    const state = JSON.parse(await readFile(join(`${s.output}.keybatch`, 'batches.json'), 'utf8'));
    expect(state.groups).toHaveLength(3);
    expect(state.groups[0].shards[0]).toMatchObject({
      state: 'completed',
      downloaded: true,
      batchId: expect.any(String),
    });
    expect(JSON.stringify(state)).not.toContain('sk-test');
  }, 60_000);
});
