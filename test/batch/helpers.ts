/** A simulator with batches on a short day, keys in two organizations and one without, and a run setup. */
import { join } from 'node:path';
import { afterEach } from 'vitest';
import type { PromptOptions } from '../../src/prompts/index.js';
import { type Simulator, type SimulatorOptions, startSimulator } from '../../src/sim/index.js';
import { collectingLogger, useTempDir } from '../helpers.js';

export const MODEL = 'gpt-4o-mini';
export const FAST_BATCH = { dayMs: 4000, validateMs: 30, processMs: 300, finalizeMs: 30 };
export const KEYS = [
  { key: 'sk-test-batch-orga-0001', organization: 'org-a' },
  { key: 'sk-test-batch-orgb-0002', organization: 'org-b' },
  { key: 'sk-test-batch-solo-0003' },
] as const;

export interface BatchSetup {
  sim: Simulator;
  config: { key_list: Array<{ api_key: string; base_url: string; organization?: string }> };
  dir: string;
  output: string;
  logger: ReturnType<typeof collectingLogger>;
  options(extra?: Partial<PromptOptions>): PromptOptions;
}

export function useBatchSetup(): (
  simOptions?: Partial<SimulatorOptions>,
  keys?: ReadonlyArray<{ key: string; organization?: string }>,
) => Promise<BatchSetup> {
  const tempDir = useTempDir();
  const open: Simulator[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((sim) => sim.close()));
  });
  return async (simOptions = {}, keys = KEYS) => {
    const sim = await startSimulator({ keys: keys.map((k) => ({ ...k })), batch: FAST_BATCH, ...simOptions });
    open.push(sim);
    const dir = await tempDir();
    const output = join(dir, 'out.jsonl');
    const logger = collectingLogger();
    return {
      sim,
      config: {
        key_list: keys.map((k) => ({
          api_key: k.key,
          base_url: sim.url,
          ...(k.organization ? { organization: k.organization } : {}),
        })),
      },
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
          client: { retry: { maxAttempts: 2, baseDelayMs: 5, maxDelayMs: 10 } },
          pollIntervalMs: 50,
          ...extra,
        }) as PromptOptions,
    };
  };
}

/** Rows without what differs between backends and runs (usage token counts stay). */
export function comparable(rows: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  return rows.map((row) => {
    const { raw: _, ...rest } = row;
    return rest;
  });
}
