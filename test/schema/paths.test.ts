/**
 * The other paths over the simulator: the responses endpoint with a zod schema, a re-ask bound
 * reached (SCHEMA_INVALID), a record's own response_format, and runPipeline tasks with
 * completeStructured.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  completeStructured,
  KeyPool,
  runPipeline,
  runPrompts,
  StructuredOutputError,
} from '../../src/index.js';
import { readRows, usePromptSetup } from '../prompts/helpers.js';
import { CODE_OF, fateOf, PERSON, SCENARIO } from './helpers.js';

const ZOD_PERSON = z.object({
  name: z.string().transform((name) => name.toUpperCase()),
  age: z.number().int(),
  tags: z.array(z.string()),
  address: z.object({ city: z.string(), zip: z.string() }),
});

describe('structured outputs: other paths', () => {
  const setup = usePromptSetup();

  it('the responses endpoint with a zod schema: parsed is zod’s output, incomplete and refused answers carry their codes', async () => {
    const s = await setup({ structured: SCENARIO });
    const prompts = Array.from({ length: 150 }, (_, i) => `responses person ${i}`);
    const summary = await runPrompts(
      s.config,
      prompts.map((prompt) => ({ prompt })),
      s.options({ endpoint: 'responses', schema: ZOD_PERSON }),
    );
    const rows = await readRows(s.output);
    const sent = s.sim.requests().filter((r) => r.path === '/v1/responses');
    expect(sent[0]?.body).toMatchObject({ text: { format: { type: 'json_schema', strict: true } } });
    let failed = 0;
    rows.forEach((row, i) => {
      const prompt = prompts[i] as string;
      const code = CODE_OF[fateOf(prompt)];
      if (code) {
        failed += 1;
        expect(row['error']).toMatchObject({ code });
      } else expect(row['parsed']).toMatchObject({ name: `ECHO: ${prompt.toUpperCase()}` });
    });
    expect(failed).toBeGreaterThan(0);
    expect(summary.failed).toBe(failed);
  }, 60_000);

  it('an answer still invalid after --reask re-asks is SCHEMA_INVALID with its last errors; reask 0 sends once', async () => {
    const s = await setup({ structured: { invalidRate: 1, invalidTries: 5 } });
    await runPrompts(s.config, [{ prompt: 'stubborn' }], s.options({ schema: PERSON, reask: 2 }));
    const [row] = await readRows(s.output);
    expect(row?.['error']).toMatchObject({
      status: null,
      code: 'SCHEMA_INVALID',
      message: expect.stringMatching(/^the answer does not match the schema after 2 re-asks: /),
    });
    expect(row?.['reasks']).toBe(2);
    expect(s.sim.requests()).toHaveLength(3);
    s.sim.resetStats();
    await runPrompts(
      s.config,
      [{ prompt: 'stubborn' }],
      s.options({ schema: PERSON, reask: 0, resume: false }),
    );
    expect(s.sim.requests()).toHaveLength(1);
  }, 60_000);

  it('a record’s own response_format wins over the run’s schema, and its answer is checked against its own', async () => {
    const s = await setup();
    const own = {
      type: 'json_schema',
      json_schema: {
        name: 'mine',
        schema: { type: 'object', properties: { k: { type: 'boolean' } }, required: ['k'] },
      },
    };
    await runPrompts(
      s.config,
      [{ prompt: 'own', response_format: own }, { prompt: 'run' }],
      s.options({ schema: PERSON }),
    );
    const sent = s.sim.requests().map((r) => (r.body as { response_format: unknown }).response_format);
    expect(sent).toContainEqual(own);
    const rows = await readRows(s.output);
    expect(rows[0]?.['parsed']).toEqual({ k: true });
    expect(rows[1]?.['parsed']).toMatchObject({ name: 'echo: run' });
  }, 60_000);

  it('runPipeline tasks: completeStructured re-asks and parses, and rejects with the row’s code', async () => {
    const s = await setup({ structured: SCENARIO });
    const prompts = Array.from({ length: 80 }, (_, i) => `pipeline person ${i}`);
    const pool = await KeyPool.open(s.config, { watch: false, notify: false });
    try {
      const { results } = await runPipeline(
        pool,
        prompts,
        async (chunk: string[], ctx) =>
          Promise.all(
            chunk.map(async (prompt) => {
              try {
                const request = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: prompt }] };
                const out = await completeStructured(ctx.client, request, PERSON, { signal: ctx.signal });
                return { parsed: out.parsed, reasks: out.reasks };
              } catch (error) {
                if (error instanceof StructuredOutputError) return { code: error.code };
                throw error;
              }
            }),
          ),
        { handleSignals: false, logger: s.logger },
      );
      results.forEach((result, i) => {
        const fate = fateOf(prompts[i] as string);
        const code = CODE_OF[fate];
        if (code) expect(result).toEqual({ code });
        else
          expect(result).toEqual({
            parsed: expect.objectContaining({ name: `echo: ${prompts[i]}` }),
            reasks: fate === 'invalid' ? 1 : 0,
          });
      });
      expect(results.some((r) => (r as { reasks?: number }).reasks === 1)).toBe(true);
    } finally {
      await pool.close();
    }
  }, 60_000);
});
