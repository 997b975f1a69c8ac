/** The batch options are checked before anything runs. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_SHARD_BYTES } from '../../src/batch/shards.js';
import { InputError } from '../../src/errors.js';
import { runPrompts } from '../../src/prompts/index.js';
import { resolvePromptOptions } from '../../src/prompts/options.js';
import { useBatchSetup } from './helpers.js';

const setup = useBatchSetup();

const base = { output: '/tmp/out.jsonl' };

describe('batch options', () => {
  it('accepts the batch backend with its options and refuses what does not fit', () => {
    expect(
      resolvePromptOptions({
        ...base,
        backend: 'batch',
        pollIntervalMs: 10,
        shardMaxRequests: 5,
        shardMaxBytes: 100,
        cancel: true,
      }),
    ).toMatchObject({ backend: 'batch', cancel: true });
    expect(() => resolvePromptOptions({ ...base, backend: 'x' as never })).toThrow(
      "`backend` to be 'online' or 'batch'",
    );
    expect(() => resolvePromptOptions({ ...base, backend: 'batch', shardMaxRequests: 50_001 })).toThrow(
      'at most 50000',
    );
    expect(() => resolvePromptOptions({ ...base, cancel: true })).toThrow("needs `backend: 'batch'`");
    expect(() => resolvePromptOptions({ ...base, backend: 'batch', budgetUsd: 1 })).toThrow('cannot be kept');
    expect(() => resolvePromptOptions({ ...base, backend: 'batch', pollIntervalMs: 0 })).toThrow(
      'pollIntervalMs',
    );
  });

  it('a rerun with other shard limits than batches.json was made with is refused before anything is sent', async () => {
    const s = await setup();
    await mkdir(`${s.output}.keybatch`);
    const recorded = {
      version: 1,
      limits: { shardMaxRequests: 2, shardMaxBytes: MAX_SHARD_BYTES },
      groups: [{ key: '[[0,1]]', indices: [[0, 1]], shards: [] }],
    };
    await writeFile(join(`${s.output}.keybatch`, 'batches.json'), JSON.stringify(recorded));
    const records = [{ prompt: 'a' }, { prompt: 'b' }, { prompt: 'c' }];
    const error = await runPrompts(
      s.config,
      records,
      s.options({ backend: 'batch', shardMaxRequests: 3 }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
    expect(String(error)).toContain('was made with shardMaxRequests 2');
    expect(s.sim.requests()).toHaveLength(0);
  }, 30_000);
});
