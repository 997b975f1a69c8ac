import { access, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CheckpointMismatchError, InputError } from '../../src/errors.js';
import type { Progress } from '../../src/pipeline/progress.js';
import { type RunSummary, runPrompts } from '../../src/prompts/index.js';
import { MODEL, readRows, usePromptSetup } from './helpers.js';

const setup = usePromptSetup();
const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );
const jsonl = (records: unknown[]) => records.map((r) => JSON.stringify(r)).join('\n') + '\n';

describe('runPrompts validation', () => {
  it('names the file:line and field of a bad record, sends nothing and leaves the existing output untouched', async () => {
    const s = await setup();
    const input = join(s.dir, 'prompts.jsonl');
    await writeFile(
      input,
      `${JSON.stringify({ prompt: 'ok' })}\n\n{"id":3}\n{"prompt":"also ok"}\n{"id":5,"text":"x"}\n`,
    );
    await writeFile(s.output, 'previous output\n');
    const attempt = runPrompts(s.config, input, s.options());
    await expect(attempt).rejects.toBeInstanceOf(InputError);
    await expect(attempt).rejects.toThrow(
      `${input}:3: a record needs "prompt" (string), "messages" (array) or a Batch API "body"`,
    );
    expect(s.sim.requests()).toHaveLength(0);
    expect(await readFile(s.output, 'utf8')).toBe('previous output\n');
    expect(await exists(`${s.output}.keybatch`)).toBe(false);
  });

  it('names the array index and the field of a bad record, and the line of a bad Batch API line', async () => {
    const s = await setup();
    await expect(
      runPrompts(s.config, [{ prompt: 'ok' }, { prompt: 42 } as never], s.options()),
    ).rejects.toThrow('prompts[1]: "prompt" must be a string, got `42` (number)');
    const input = join(s.dir, 'batch.jsonl');
    await writeFile(
      input,
      jsonl([
        { custom_id: 'a', method: 'POST', url: '/v1/chat/completions', body: { messages: [] } },
        { custom_id: 'b', method: 'POST', url: '/v1/moderations', body: { input: 'x' } },
      ]),
    );
    await expect(runPrompts(s.config, input, s.options())).rejects.toThrow(
      `${input}:1: "body.messages" must be a non-empty array of messages, got \`[]\` (array)`,
    );
    expect(s.sim.requests()).toHaveLength(0);
  });

  it('a rerun with another model or other params sends every row again, and going back sends nothing (rows are known by their request)', async () => {
    const s = await setup();
    const prompts = [{ prompt: 'one' }, { prompt: 'two' }];
    await runPrompts(s.config, prompts, s.options({ params: { temperature: 0 } }));
    const requests = () => s.sim.requests().length;
    const first = requests();
    const otherModel = await runPrompts(
      s.config,
      prompts,
      s.options({ model: 'gpt-4o', params: { temperature: 0 } }),
    );
    expect(otherModel).toMatchObject({ done: 2, skipped: 0 });
    expect((await readRows(s.output)).map((r) => r['model'])).toEqual(['gpt-4o', 'gpt-4o']);
    const otherParams = await runPrompts(s.config, prompts, s.options({ params: { temperature: 1 } }));
    expect(otherParams).toMatchObject({ done: 2, skipped: 0 });
    expect(requests()).toBe(first + 4);
    const back = await runPrompts(s.config, prompts, s.options({ params: { temperature: 0 } }));
    expect(back).toMatchObject({ done: 0, skipped: 2 });
    expect((await readRows(s.output)).map((r) => r['model'])).toEqual([MODEL, MODEL]);
    expect(requests()).toBe(first + 4);
    const fresh = await runPrompts(
      s.config,
      prompts,
      s.options({ resume: false, params: { temperature: 0 } }),
    );
    expect(fresh).toMatchObject({ done: 2, skipped: 0 });
    await expect(runPrompts(s.config, prompts, s.options({ raw: true }))).rejects.toBeInstanceOf(
      CheckpointMismatchError,
    );
  });
});

describe('runPrompts resume', () => {
  it('resumes a .jsonl run stopped by an AbortSignal and writes each record exactly once, in order', async () => {
    const s = await setup({ latencyMs: 5 });
    const input = join(s.dir, 'prompts.jsonl');
    const n = 40;
    await writeFile(
      input,
      jsonl(Array.from({ length: n }, (_, i) => ({ id: `p${i}`, prompt: `item ${i}` }))),
    );
    const controller = new AbortController();
    let attempts = 0;
    const progress: Progress[] = [];
    const stopped = await runPrompts(
      s.config,
      input,
      s.options({
        workers: 2,
        concurrency: 2,
        signal: controller.signal,
        progressIntervalMs: 5,
        onProgress: (p) => progress.push(p),
        client: {
          onAttempt: () => {
            attempts += 1;
            if (attempts === 10) controller.abort();
          },
        },
      }),
    ).catch((e: unknown) => e);
    expect(stopped).toMatchObject({ code: 'ABORTED' });
    const first = (stopped as { summary: RunSummary }).summary;
    expect(first.done).toBeGreaterThanOrEqual(6);
    expect(first.done).toBeLessThan(n);
    expect(await exists(s.output)).toBe(false);
    // The file's size is known from the validation pass, though its records are streamed.
    expect(progress.length).toBeGreaterThan(0);
    for (const p of progress) expect(p.total).toBe(n);

    const second = await runPrompts(s.config, input, s.options());
    expect(second.skipped).toBe(first.done);
    expect(second.done + second.skipped).toBe(n);
    expect(second.failed).toBe(0);
    const rows = await readRows(s.output);
    expect(rows.map((r) => [r['id'], r['response']])).toEqual(
      Array.from({ length: n }, (_, i) => [`p${i}`, `echo: item ${i}`]),
    );
  });
});
