import { access } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { NoUsableKeyError } from '../../src/errors.js';
import { type RunSummary, runPrompts } from '../../src/prompts/index.js';
import { KEYS, readRows, sent, usePromptSetup } from './helpers.js';

const setup = usePromptSetup();
const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

describe('runPrompts failures', () => {
  it('writes a final error row for a 400, answers the rest, and a rerun does not resend it', async () => {
    const s = await setup();
    const tooLong = 'far too long [[sim:400]]';
    const prompts = [{ prompt: 'one' }, { prompt: 'two' }, { prompt: tooLong }, { prompt: 'four' }];
    const summary = await runPrompts(s.config, prompts, s.options());
    const rows = await readRows(s.output);
    expect(rows[2]).toEqual({
      id: 2,
      system_prompt: null,
      prompt: tooLong,
      error: {
        status: 400,
        code: 'context_length_exceeded',
        message: expect.stringMatching(/^This model's maximum context length is 128000 tokens/),
      },
    });
    expect(rows.map((r) => r['response'])).toEqual(['echo: one', 'echo: two', undefined, 'echo: four']);
    expect(summary).toMatchObject({
      total: 4,
      done: 3,
      failed: 1,
      skipped: 0,
      errors: { context_length_exceeded: 1 },
    });
    expect(sent(s.sim, tooLong)).toBe(1);

    const requests = s.sim.requests().length;
    const rerun = await runPrompts(s.config, prompts, s.options());
    expect(rerun).toMatchObject({ total: 4, done: 0, failed: 0, skipped: 4, errors: {} });
    expect(s.sim.requests()).toHaveLength(requests);
    expect(await readRows(s.output)).toEqual(rows);
  });

  it('records a prompt still answered 500 after the client retries as failed with the error row, and a rerun retries it', async () => {
    const s = await setup();
    // Answered 500 twice, then normally: the first run's two attempts fail, the rerun's succeeds.
    const flaky = 'flaky [[sim:500x2]]';
    const prompts = [{ prompt: 'one' }, { id: 'f', system: 'S', prompt: flaky }, { prompt: 'three' }];
    const first = await runPrompts(s.config, prompts, s.options());
    expect(first).toMatchObject({ total: 3, done: 2, failed: 1, errors: { '500': 1 } });
    expect(sent(s.sim, flaky)).toBe(2);
    const rows = await readRows(s.output);
    expect(rows[1]).toEqual({
      id: 'f',
      system_prompt: 'S',
      prompt: flaky,
      error: {
        status: 500,
        code: null,
        message: 'The server had an error while processing your request. Sorry about that!',
      },
    });
    expect(s.logger.text()).toContain('failed after 1 attempts');

    const second = await runPrompts(s.config, prompts, s.options());
    expect(second).toMatchObject({ total: 3, done: 1, failed: 0, skipped: 2 });
    expect(sent(s.sim, flaky)).toBe(3);
    const after = await readRows(s.output);
    expect(after[1]).toMatchObject({
      id: 'f',
      system_prompt: 'S',
      prompt: flaky,
      response: `echo: ${flaky}`,
    });
    expect(after.map((r) => r['id'])).toEqual([0, 'f', 2]);
  });

  it('stops resumably with NoUsableKeyError (carrying a summary) when no key is usable, writing no output', async () => {
    const s = await setup();
    const prompts = [{ prompt: 'one' }, { prompt: 'two' }];
    const rejected = { key_list: [{ api_key: 'sk-test-unknown-key-9999', base_url: s.sim.url }] };
    const error = await runPrompts(
      rejected,
      prompts,
      s.options({ pool: { watch: false, notify: false, waitTimeoutMs: 0 } }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoUsableKeyError);
    expect((error as { summary: RunSummary }).summary).toMatchObject({ total: 2, done: 0, failed: 0 });
    expect(await exists(s.output)).toBe(false);

    const resumed = await runPrompts(s.config, prompts, s.options());
    expect(resumed).toMatchObject({ total: 2, done: 2, failed: 0 });
  });

  it('stops with MODEL_UNAVAILABLE when no key can serve the model, instead of writing error rows', async () => {
    const s = await setup({ keys: KEYS.map((key) => ({ key, models: ['gpt-4o-mini'] })) });
    const attempt = runPrompts(s.config, [{ prompt: 'one' }], s.options({ model: 'gpt-4o' }));
    await expect(attempt).rejects.toBeInstanceOf(NoUsableKeyError);
    await expect(attempt).rejects.toMatchObject({ code: 'MODEL_UNAVAILABLE' });
    expect(await exists(s.output)).toBe(false);
  });
});
