/**
 * 8. Structured outputs: what checking answers against a 20-field schema costs runPrompts.
 *
 * A zero-latency simulator (in a child process), one key, N rows through `runPrompts` with a
 * 20-field JSON Schema (4 lanes × 8); every answer is valid, so each row is one request, parsed
 * and validated once. The validation's own time is then measured on those same N answers, in this
 * process, with the library's validator (`parseResponse`: JSON.parse + ajv, compiled once), and
 * given as a share of the run's wall time per row: the throughput lost to validation. The same
 * answers through a zod schema of the same shape give the ajv-vs-zod figure. A run without a
 * schema (plain answers, smaller requests) is shown for context, not as the baseline: its
 * requests and answers differ.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import type { BenchContext, Benchmark } from './lib/bench.js';
import { loadKeybatch } from './lib/keybatch.js';
import { spawnSimulator } from './lib/sim-process.js';
import { median } from './lib/stats.js';
import { num, pct, table, verdict } from './lib/table.js';

const KEY = 'sk-bench-schema-key-0001';
/** The bound: validation costs at most 5% of the throughput. */
const TARGET = 0.05;
const FIELDS = 20;

/** Twenty required fields of every JSON type, nested ones included (strict-mode shape). */
export function twentyFields(): { json: Record<string, unknown>; zod: z.ZodType } {
  const kinds = ['string', 'integer', 'number', 'boolean', 'enum', 'array', 'object'] as const;
  const json: Record<string, unknown> = {};
  const shape: Record<string, z.ZodType> = {};
  for (let i = 0; i < FIELDS; i++) {
    const name = `field_${String(i + 1).padStart(2, '0')}`;
    const kind = kinds[i % kinds.length] as (typeof kinds)[number];
    switch (kind) {
      case 'string':
        json[name] = { type: 'string', maxLength: 400 };
        shape[name] = z.string().max(400);
        break;
      case 'integer':
        json[name] = { type: 'integer', minimum: 0 };
        shape[name] = z.number().int().min(0);
        break;
      case 'number':
        json[name] = { type: 'number' };
        shape[name] = z.number();
        break;
      case 'boolean':
        json[name] = { type: 'boolean' };
        shape[name] = z.boolean();
        break;
      case 'enum':
        json[name] = { type: 'string', enum: ['low', 'mid', 'high'] };
        shape[name] = z.enum(['low', 'mid', 'high']);
        break;
      case 'array':
        json[name] = { type: 'array', items: { type: 'string' } };
        shape[name] = z.array(z.string());
        break;
      case 'object':
        json[name] = {
          type: 'object',
          properties: { a: { type: 'string' }, b: { type: 'integer' } },
          required: ['a', 'b'],
          additionalProperties: false,
        };
        shape[name] = z.object({ a: z.string(), b: z.number().int() }).strict();
        break;
    }
  }
  const schema = {
    title: 'twenty_fields',
    type: 'object',
    properties: json,
    required: Object.keys(json),
    additionalProperties: false,
  };
  return { json: schema, zod: z.object(shape).strict() };
}

/** Milliseconds to check every answer once, the best of `rounds` passes (after a warm-up pass). */
function timeChecks(
  answers: readonly unknown[],
  check: (answer: unknown) => unknown,
  rounds: number,
): number {
  for (const answer of answers) check(answer);
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const started = process.hrtime.bigint();
    for (const answer of answers) check(answer);
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  return median(times);
}

export const schema: Benchmark = {
  name: 'schema',
  title: '8. Structured outputs: validation cost',
  async run(ctx: BenchContext): Promise<string> {
    const n = ctx.number('requests', 5000, 1000);
    const rounds = ctx.number('rounds', 3, 2);
    const kb = await loadKeybatch();
    const { json, zod } = twentyFields();
    const sim = await spawnSimulator({ keys: [{ key: KEY }], latencyMs: 0 });
    const dir = await mkdtemp(join(tmpdir(), 'keybatch-bench-schema-'));
    const config = { key_list: [{ api_key: KEY, base_url: sim.url }] };
    const prompts = Array.from({ length: n }, (_, i) => ({ prompt: `row ${i}` }));
    const runOnce = async (name: string, withSchema: boolean): Promise<number> => {
      const output = join(dir, `${name}.jsonl`);
      const started = performance.now();
      await kb.runPrompts(config, prompts, {
        output,
        model: 'gpt-4o-mini',
        handleSignals: false,
        logger: kb.silentLogger,
        pool: { watch: false, notify: false },
        resume: false,
        ...(withSchema ? { schema: json } : {}),
      });
      return performance.now() - started;
    };
    try {
      const schemaRuns: number[] = [];
      const plainRuns: number[] = [];
      for (let r = 0; r < rounds; r++) {
        ctx.log(`round ${r + 1}/${rounds}: ${n} rows with the schema, then without`);
        schemaRuns.push(await runOnce('schema', true));
        plainRuns.push(await runOnce('plain', false));
      }
      // The answers of the last run with the schema, rebuilt as chat completions.
      const rows = (await readFile(join(dir, 'schema.jsonl'), 'utf8')).trim().split('\n');
      const answers = rows.map((line) => {
        const row = JSON.parse(line) as { response: string };
        if (!('parsed' in JSON.parse(line)))
          throw new Error('a row without parsed: the benchmark needs valid answers');
        return {
          object: 'chat.completion',
          choices: [
            { index: 0, message: { role: 'assistant', content: row.response }, finish_reason: 'stop' },
          ],
        };
      });
      const ajvMs = timeChecks(answers, (a) => kb.parseResponse(a, json), 5);
      const zodMs = timeChecks(answers, (a) => kb.parseResponse(a, zod as never), 5);
      const runMs = median(schemaRuns);
      const share = ajvMs / runMs;
      const perRow = (ms: number) => `${num((ms * 1000) / n, 1)} µs`;
      return [
        table(
          ['', 'rows/s', 'per row'],
          [
            ['runPrompts with the 20-field schema (median run)', num((n / runMs) * 1000), perRow(runMs)],
            [
              'runPrompts without a schema (context: other requests)',
              num((n / median(plainRuns)) * 1000),
              perRow(median(plainRuns)),
            ],
            [
              'validation alone, ajv (parseResponse: JSON.parse + ajv)',
              num((n / ajvMs) * 1000),
              perRow(ajvMs),
            ],
            ['validation alone, zod 4 (same shape)', num((n / zodMs) * 1000), perRow(zodMs)],
          ],
        ),
        '',
        table(
          ['target', 'measured', 'verdict'],
          [
            [
              `validation ≤ ${pct(TARGET, 0)} of runPrompts' time per row`,
              pct(share),
              verdict(share <= TARGET),
            ],
          ],
        ),
        '',
        `${n} rows, ${rounds} rounds; zod takes ${num(zodMs / ajvMs, 2)}× ajv's time on these answers (JSON.parse included in both).`,
      ].join('\n');
    } finally {
      await sim.close();
      await rm(dir, { recursive: true, force: true });
    }
  },
};
