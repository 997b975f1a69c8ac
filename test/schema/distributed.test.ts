/** A distributed prompt run with a schema: the workers check and re-ask as the local run does. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startWorker } from '../../src/distributed/worker.js';
import { runPrompts } from '../../src/index.js';
import { collectingLogger } from '../helpers.js';
import { readRows, usePromptSetup } from '../prompts/helpers.js';
import { useRedis } from '../redis.js';
import { PERSON, SCENARIO } from './helpers.js';

const redis = useRedis();

describe('structured outputs, distributed', () => {
  const setup = usePromptSetup();

  it('a worker gives the rows of a local run: parsed, re-asked, and the failure codes', async () => {
    const s = await setup({ structured: SCENARIO });
    const records = Array.from({ length: 120 }, (_, i) => ({ id: i, prompt: `distributed person ${i}` }));
    const local = join(s.dir, 'local.jsonl');
    await runPrompts(s.config, records, s.options({ output: local, schema: PERSON }));
    const worker = await startWorker({
      redis: redis().url,
      config: s.config,
      pollIntervalMs: 50,
      logger: collectingLogger(),
    });
    try {
      await runPrompts(
        s.config,
        records,
        s.options({
          schema: PERSON,
          distributed: { redis: redis().url, window: 4, sweepIntervalMs: 200, statusIntervalMs: 50 },
        }),
      );
    } finally {
      await worker.close();
    }
    const rows = await readRows(s.output);
    expect(rows).toEqual(await readRows(local));
    expect(rows.some((row) => row['reasks'] === 1)).toBe(true);
    expect(rows.some((row) => (row['error'] as { code?: string } | undefined)?.code === 'TRUNCATED')).toBe(
      true,
    );
  }, 90_000);
});
