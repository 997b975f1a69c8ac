import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import type { PromptOptions } from '../../src/prompts/index.js';
import { type Simulator, type SimulatorOptions, startSimulator } from '../../src/sim/index.js';
import { collectingLogger, useTempDir } from '../helpers.js';

export const KEYS = ['sk-test-prompts-alpha-0001', 'sk-test-prompts-bravo-0002'] as const;
export const MODEL = 'gpt-4o-mini';

/** Client retries fast enough for tests. */
export const FAST_RETRY = { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 10 };

export interface Setup {
  sim: Simulator;
  config: { key_list: Array<{ api_key: string; base_url: string }> };
  dir: string;
  output: string;
  logger: ReturnType<typeof collectingLogger>;
  /** Options every test run uses: quiet, no signal handling, no watcher, fast retries. */
  options(extra?: Partial<PromptOptions>): PromptOptions;
}

/** A simulator with the test keys, a config over it, a temp dir; all closed after the test. */
export function usePromptSetup(): (simOptions?: Partial<SimulatorOptions>) => Promise<Setup> {
  const tempDir = useTempDir();
  const open: Simulator[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((sim) => sim.close()));
  });
  return async (simOptions = {}) => {
    const sim = await startSimulator({ keys: KEYS.map((key) => ({ key })), ...simOptions });
    open.push(sim);
    const dir = await tempDir();
    const output = join(dir, 'out.jsonl');
    const logger = collectingLogger();
    return {
      sim,
      config: { key_list: KEYS.map((api_key) => ({ api_key, base_url: sim.url })) },
      dir,
      output,
      logger,
      options: (extra = {}) =>
        ({
          output,
          model: MODEL,
          handleSignals: false,
          logger,
          pool: { watch: false, notify: false },
          client: { retry: FAST_RETRY },
          ...extra,
        }) as PromptOptions,
    };
  };
}

export async function readRows(path: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(path, 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** The bodies the simulator received on `path`, in arrival order. */
export function bodies(sim: Simulator, path = '/v1/chat/completions'): Array<Record<string, unknown>> {
  return sim
    .requests()
    .filter((r) => r.path === path)
    .map((r) => r.body as Record<string, unknown>);
}

/** How many requests carried `text` as their prompt (last user message, prompt or input). */
export function sent(sim: Simulator, text: string): number {
  return sim.requests().filter((r) => JSON.stringify(r.body).includes(JSON.stringify(text))).length;
}
