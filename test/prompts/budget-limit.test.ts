import { access } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { KeybatchError } from '../../src/errors.js';
import { runPrompts } from '../../src/prompts/index.js';
import { readRows, usePromptSetup } from './helpers.js';

const setup = usePromptSetup();
const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );
const prompts = (n: number) => Array.from({ length: n }, (_, i) => ({ id: i, prompt: `sample ${i}` }));

describe('runPrompts limit (a sample of the pending records)', () => {
  it('runs only the first N pending records, stops resumable; a rerun without it continues the same run', async () => {
    const s = await setup();
    const input = prompts(10);
    const first = runPrompts(s.config, input, s.options({ limit: 3, workers: 2, concurrency: 2 }));
    await expect(first).rejects.toBeInstanceOf(KeybatchError);
    await expect(first).rejects.toMatchObject({
      code: 'LIMIT_REACHED',
      message: 'stopped: --limit 3 reached',
    });
    expect(s.sim.requests()).toHaveLength(3);
    expect(await exists(s.output)).toBe(false);

    const second = runPrompts(s.config, input, s.options({ limit: 4 }));
    await expect(second).rejects.toMatchObject({ code: 'LIMIT_REACHED' });
    expect(s.sim.requests()).toHaveLength(7);

    const summary = await runPrompts(s.config, input, s.options());
    expect(summary).toMatchObject({ done: 3, skipped: 7 });
    expect(s.sim.requests()).toHaveLength(10);
    expect((await readRows(s.output)).map((row) => row.id)).toEqual(input.map((r) => r.id));
  }, 60_000);

  it('a limit that covers every pending record completes the run', async () => {
    const s = await setup();
    const summary = await runPrompts(s.config, prompts(4), s.options({ limit: 4 }));
    expect(summary.done).toBe(4);
    expect(await readRows(s.output)).toHaveLength(4);
  }, 60_000);
});
