/**
 * A budget over a server whose answers carry no `usage` (some servers and proxies leave it out):
 * each answer costs its reserved estimate, the run says once that the spend is estimated, and that
 * spend survives a rerun and a `kill -9` with requests in flight (they may have been billed).
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KeybatchError } from '../../src/errors.js';
import { type RunSummary, runPrompts } from '../../src/prompts/index.js';
import { cli, startCli, tempDirs, writeConfig, writeJsonl } from '../cli/helpers.js';
import { collectingLogger, until, useCleanup } from '../helpers.js';

const cleanup = useCleanup();
const tempDir = tempDirs();
const KEY = 'sk-test-no-usage-budget-0001';
/** About three requests' estimates (a short prompt, output at the 256-token assumption, gpt-4o-mini). */
const BUDGET = 0.0005;

/** A chat server answering without `usage`; while `hold` is on, requests wait unanswered. */
async function noUsageServer() {
  const state = { received: 0, hold: false, held: [] as ServerResponse[] };
  const answer = (res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        id: 'c',
        object: 'chat.completion',
        created: 1,
        model: 'gpt-4o-mini',
        choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
      }),
    );
  };
  const http = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      state.received += 1;
      if (state.hold) state.held.push(res);
      else answer(res);
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  cleanup({
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  });
  return { state, url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/v1` };
}

const prompts = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ id: i, prompt: `no usage ${i % 10}${i}` }));

describe('a budget when answers carry no usage', () => {
  it('counts each answer at its estimate, warns once, stops; the same budget again sends nothing', async () => {
    const { state, url } = await noUsageServer();
    const dir = await tempDir();
    const logger = collectingLogger();
    const options = {
      output: join(dir, 'out.jsonl'),
      model: 'gpt-4o-mini',
      budgetUsd: BUDGET,
      concurrency: 1,
      workers: 1,
      handleSignals: false,
      logger,
      pool: { watch: false, notify: false },
    };
    const config = { key_list: [{ api_key: KEY, base_url: url }] };
    const stopped = await runPrompts(config, prompts(30), options).then(
      (summary: RunSummary) => summary,
      (error: unknown) => error as KeybatchError & { summary: RunSummary },
    );
    expect(stopped).toBeInstanceOf(KeybatchError);
    const error = stopped as KeybatchError & { summary: RunSummary };
    expect(error.code).toBe('BUDGET_REACHED');
    const sent = state.received;
    expect(sent).toBeGreaterThanOrEqual(1);
    expect(sent).toBeLessThanOrEqual(4);
    expect(error.summary.cost.knownUsd).toBeGreaterThan(0);
    expect(error.summary.cost.knownUsd).toBeLessThanOrEqual(BUDGET);
    expect(error.summary.cost.estimatedUsd).toBe(error.summary.cost.knownUsd);
    const warnings = logger.lines.filter((line) => line.includes('answers carry no usage'));
    expect(warnings).toHaveLength(1);

    const again = await runPrompts(config, prompts(30), options).catch((e: unknown) => e as KeybatchError);
    expect((again as KeybatchError).code).toBe('BUDGET_REACHED');
    expect(state.received).toBe(sent);
  }, 60_000);

  it('kill -9 with requests in flight: a rerun counts them as spent, so the loop cannot pass the budget', async () => {
    const { state, url } = await noUsageServer();
    const dir = await tempDir();
    const config = join(dir, 'config.json');
    const input = join(dir, 'in.jsonl');
    await writeConfig(config, [{ api_key: KEY, base_url: url }]);
    await writeJsonl(input, prompts(30));
    const args = ['run', input, '-o', join(dir, 'out.jsonl'), '-c', config, '-m', 'gpt-4o-mini'];
    const budget = ['--budget', String(BUDGET), '--workers', '1', '--concurrency', '2', '--quiet'];
    state.hold = true;
    const first = startCli([...args, ...budget], { cwd: dir });
    await until(() => state.received === 2, 30_000, 'two requests in flight');
    first.proc.kill('SIGKILL');
    expect((await first.done).signal).toBe('SIGKILL');
    for (const res of state.held.splice(0)) res.destroy();
    state.hold = false;

    // The two killed requests may have been billed: at most one more estimate fits the budget.
    const second = await cli([...args, ...budget], { cwd: dir });
    expect(second.code).toBe(3);
    expect(second.stderr).toContain('budget $0.000500 reached');
    expect(state.received - 2).toBeLessThanOrEqual(1);
  }, 120_000);
});
