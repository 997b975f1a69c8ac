/** `keybatch run --batch --poll-interval`, then `keybatch status` lists each batch; `--cancel` is accepted. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, readJsonl, writeJsonl } from '../cli/helpers.js';
import { useBatchSetup } from './helpers.js';

const setup = useBatchSetup();

describe('keybatch run --batch', () => {
  it('answers through batches, and keybatch status shows each batch id, state and counts', async () => {
    const s = await setup();
    await writeFile(join(s.dir, 'config.json'), JSON.stringify(s.config));
    const input = join(s.dir, 'in.jsonl');
    await writeJsonl(
      input,
      Array.from({ length: 5 }, (_, i) => ({ id: i, prompt: `cli ${i}` })),
    );
    const run = await cli(
      [
        'run',
        input,
        '-o',
        s.output,
        '-m',
        'gpt-4o-mini',
        '--config',
        'config.json',
        '--batch',
        '--poll-interval',
        '0.05',
      ],
      { cwd: s.dir },
    );
    expect(run.code, run.stderr).toBe(0);
    const rows = await readJsonl(s.output);
    expect(rows.map((r) => r['response'])).toEqual([0, 1, 2, 3, 4].map((i) => `echo: cli ${i}`));
    expect(s.sim.stats().objects.batchesCreated).toBe(1);
    const status = await cli(['status', s.output], { cwd: s.dir });
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('batches: 1 (1 completed)');
    expect(status.stdout).toMatch(
      /batch batch_\w+: completed, 5\/5 completed, 0 failed \(shard 0-1-0, attempt 1\)/,
    );
  }, 90_000);
});
