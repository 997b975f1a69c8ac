/**
 * Structured outputs over the simulator, through runPrompts and the real `openai` SDK: 1,000 rows
 * with a schema, 10% invalid on the first try, 2% truncated, 1% refused, 1% filtered.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runPrompts } from '../../src/index.js';
import { RunDirSource } from '../../src/ui/run-dir.js';
import { startDashboard } from '../../src/ui/server.js';
import { childEnv, MAIN } from '../cli/helpers.js';
import { readRows, usePromptSetup } from '../prompts/helpers.js';
import { CODE_OF, fateOf, fates, PERSON, SCENARIO } from './helpers.js';

const run = promisify(execFile);
const ROWS = 1000;
const prompts = Array.from({ length: ROWS }, (_, i) => `describe person ${i}`);

/** The chat requests the simulator received, by their first user message. */
function requestsByPrompt(sim: { requests(): Array<{ path: string; body: unknown }> }) {
  const by = new Map<string, Array<{ messages: Array<{ role: string; content: string }> }>>();
  for (const r of sim.requests()) {
    if (r.path !== '/v1/chat/completions') continue;
    const body = r.body as { messages: Array<{ role: string; content: string }> };
    const first = body.messages.find((m) => m.role === 'user')?.content ?? '';
    by.set(first, [...(by.get(first) ?? []), body]);
  }
  return by;
}

describe('structured outputs over the simulator', () => {
  const setup = usePromptSetup();

  it('1,000 rows: parsed on every valid row, invalid ones re-asked with their errors, truncated/refused/filtered failed with their codes and never re-asked, and the counts agree', async () => {
    const s = await setup({ structured: SCENARIO });
    const summary = await runPrompts(
      s.config,
      prompts.map((prompt) => ({ prompt })),
      s.options({ schema: PERSON }),
    );
    const rows = await readRows(s.output);
    expect(rows).toHaveLength(ROWS);
    const expected = fates(prompts);
    // The scenario draws every kind (the draw is fixed by the seed and the prompts).
    for (const kind of ['valid', 'invalid', 'truncated', 'refused', 'filtered'])
      expect(expected[kind]).toBeGreaterThan(0);

    const sent = requestsByPrompt(s.sim);
    rows.forEach((row, i) => {
      const prompt = prompts[i] as string;
      const fate = fateOf(prompt);
      const requests = sent.get(prompt) ?? [];
      if (fate === 'valid' || fate === 'invalid') {
        expect(row['error'], `row ${i}`).toBeUndefined();
        expect(row['parsed'], `row ${i}`).toEqual(JSON.parse(row['response'] as string));
        expect((row['parsed'] as { name: string }).name).toBe(`echo: ${prompt}`);
      }
      if (fate === 'valid') {
        expect(requests, `row ${i}`).toHaveLength(1);
        expect(row['reasks']).toBeUndefined();
      }
      if (fate === 'invalid') {
        expect(requests, `row ${i}`).toHaveLength(2);
        expect(row['reasks']).toBe(1);
        // The second request continues the conversation: the model's answer, then the validation error.
        const [, second] = requests;
        const turns = second?.messages ?? [];
        expect(turns.at(-2)?.role).toBe('assistant');
        expect(turns.at(-1)?.role).toBe('user');
        expect(turns.at(-1)?.content).toMatch(/does not match the required JSON schema/);
        expect(turns.at(-1)?.content).toMatch(
          /must have required property 'name'|\/name: must be string|not valid JSON/,
        );
      }
      const code = CODE_OF[fate];
      if (code) {
        expect((row['error'] as { code: string }).code, `row ${i}`).toBe(code);
        expect(row['parsed']).toBeUndefined();
        expect(requests, `row ${i} is never re-asked`).toHaveLength(1);
      }
    });
    const truncated = rows.find((row) => (row['error'] as { code?: string })?.code === 'TRUNCATED');
    expect(JSON.stringify(truncated?.['error'])).toMatch(/--max-tokens/);

    // The summary, `status --json` and the dashboard's /api/summary agree.
    const failed = (expected['truncated'] ?? 0) + (expected['refused'] ?? 0) + (expected['filtered'] ?? 0);
    expect(summary.failed).toBe(failed);
    expect(summary.done).toBe(ROWS - failed);
    expect(summary.errors).toEqual({
      TRUNCATED: expected['truncated'],
      REFUSED: expected['refused'],
      FILTERED: expected['filtered'],
    });
    const status = await run(process.execPath, [MAIN, 'status', s.output, '--json'], {
      env: childEnv(),
    }).catch((error: { code: number; stdout: string }) => error);
    expect((status as { code?: number }).code).toBe(1);
    const report = JSON.parse(status.stdout) as Record<string, unknown>;
    expect(report).toMatchObject({ total: ROWS, done: ROWS - failed, failed, final: failed, retryable: 0 });
    expect(report['errors']).toEqual(summary.errors);

    const source = await RunDirSource.open(s.output, { intervalMs: 60_000 });
    const dashboard = await startDashboard(source);
    try {
      const url = new URL(dashboard.url);
      const api = await fetch(`${url.origin}/api/summary?token=${url.searchParams.get('token')}`);
      const json = (await api.json()) as Record<string, unknown>;
      expect(json).toMatchObject({ total: ROWS, done: ROWS - failed, failed });
    } finally {
      await dashboard.close();
      source.close();
    }
  }, 120_000);
});
