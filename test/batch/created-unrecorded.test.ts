/**
 * The one window a checkpoint cannot close by writing first: a batch created on the API whose id a
 * killed run never recorded. batches.json says a create was under way (`creating`), so the rerun
 * finds that batch by its input file instead of creating (and paying for) a second one.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { describe, expect, it } from 'vitest';
import { planShards } from '../../src/batch/shards.js';
import { groupKey, toRanges } from '../../src/batch/state.js';
import { runPrompts } from '../../src/prompts/index.js';
import { readRows } from '../prompts/helpers.js';
import { KEYS, MODEL, useBatchSetup } from './helpers.js';

const setup = useBatchSetup();

describe('backend batch: a batch created but not recorded', () => {
  it('is found by its input file on the rerun, not created again', async () => {
    const key = KEYS[0];
    const s = await setup({}, [key]);
    const prompts = ['one', 'two', 'three'];
    const indices = [0, 1, 2];
    const [shard] = planShards(
      indices.map((index) => ({
        index,
        endpoint: 'chat' as const,
        body: { model: MODEL, messages: [{ role: 'user', content: prompts[index] }] },
      })),
      100,
      1e9,
    );
    const sdk = new OpenAI({
      apiKey: key.key,
      organization: key.organization,
      baseURL: s.sim.url,
      maxRetries: 0,
    });
    const file = await sdk.files.create({
      file: await toFile(Buffer.from(shard?.lines.join('') ?? ''), 'keybatch-0-1-0.jsonl'),
      purpose: 'batch',
    });
    await sdk.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const runDir = `${s.output}.keybatch`;
    await mkdir(runDir);
    const recorded = {
      version: 1,
      groups: [
        {
          key: groupKey(indices),
          indices: toRanges(indices),
          shards: [
            {
              id: '0-1-0',
              attempt: 1,
              endpoint: 'chat',
              indices: toRanges(indices),
              affinity: { organization: key.organization, baseURL: s.config.key_list[0]?.base_url },
              fileId: file.id,
              creating: true,
            },
          ],
        },
      ],
    };
    await writeFile(join(runDir, 'batches.json'), JSON.stringify(recorded));
    await runPrompts(
      s.config,
      prompts.map((prompt) => ({ prompt })),
      s.options({ backend: 'batch' }),
    );
    const rows = await readRows(s.output);
    expect(rows.map((r) => r['response'])).toEqual(prompts.map((p) => `echo: ${p}`));
    expect(s.sim.stats().objects.filesCreated).toBe(1);
    expect(s.sim.stats().objects.batchesCreated).toBe(1);
  }, 60_000);

  it('an input file uploaded but not recorded is found by its recorded name on the rerun, not uploaded again (no orphan)', async () => {
    const key = KEYS[0];
    const s = await setup({}, [key]);
    const prompts = ['uno', 'dos', 'tres'];
    const indices = [0, 1, 2];
    const [shard] = planShards(
      indices.map((index) => ({
        index,
        endpoint: 'chat' as const,
        body: { model: MODEL, messages: [{ role: 'user', content: prompts[index] }] },
      })),
      100,
      1e9,
    );
    const sdk = new OpenAI({
      apiKey: key.key,
      organization: key.organization,
      baseURL: s.sim.url,
      maxRetries: 0,
    });
    // The killed run: its name was recorded, the upload went through, its id was never recorded.
    const uploadName = 'keybatch-0-1-0-5eed5eed5eed.jsonl';
    await sdk.files.create({
      file: await toFile(Buffer.from(shard?.lines.join('') ?? ''), uploadName),
      purpose: 'batch',
    });
    const runDir = `${s.output}.keybatch`;
    await mkdir(runDir);
    const recorded = {
      version: 1,
      groups: [
        {
          key: groupKey(indices),
          indices: toRanges(indices),
          shards: [
            {
              id: '0-1-0',
              attempt: 1,
              endpoint: 'chat',
              indices: toRanges(indices),
              affinity: { organization: key.organization, baseURL: s.config.key_list[0]?.base_url },
              uploadName,
            },
          ],
        },
      ],
    };
    await writeFile(join(runDir, 'batches.json'), JSON.stringify(recorded));
    await runPrompts(
      s.config,
      prompts.map((prompt) => ({ prompt })),
      s.options({ backend: 'batch' }),
    );
    const rows = await readRows(s.output);
    expect(rows.map((r) => r['response'])).toEqual(prompts.map((p) => `echo: ${p}`));
    expect(s.sim.stats().objects.filesCreated).toBe(1);
    expect(s.logger.text()).toContain('uploaded by a stopped run is used, not uploaded again');
  }, 60_000);
});
