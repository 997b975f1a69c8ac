/**
 * `keybatch simulate [--port N] [--scenario FILE] [--write-config FILE]`: the local
 * OpenAI-compatible simulator, until Ctrl-C. Stdout carries only a config.json for it (the
 * scenario's keys are the simulator's own test keys, so printing them is fine), so
 * `keybatch simulate > config.json` works; its URL, the Ctrl-C hint and its stats when stopped go
 * to stderr. `--write-config FILE` also writes that config to FILE.
 */
import { readFile, writeFile } from 'node:fs/promises';
import {
  InputError,
  type SimStats,
  type Simulator,
  type SimulatorOptions,
  startSimulator,
} from '../index.js';
import { EXIT } from './errors.js';
import { formatCounts, table } from './format.js';

export interface SimulateFlags {
  port?: number;
  scenario?: string;
  /** Also write the config.json to this file. */
  writeConfig?: string;
  /** Seconds a Batch API day lasts (batches finish within it): overrides the scenario's `batch.dayMs`. */
  batchDay?: number;
}

/** Three keys with different limits and a little latency: enough to see a pool at work. */
export const DEFAULT_SCENARIO: SimulatorOptions = Object.freeze({
  keys: [
    { key: 'sk-sim-good-key-0001' },
    { key: 'sk-sim-paced-key-0002', requestsPerWindow: 120, windowMs: 60_000 },
    { key: 'sk-sim-small-quota-0003', quota: 50 },
  ],
  latencyMs: { min: 40, max: 120 },
});

/** Reads a scenario file (JSON in `SimulatorOptions` form); problems name the file. */
export async function readScenario(path: string): Promise<SimulatorOptions> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new InputError(
      `${path}: ${code === 'ENOENT' ? 'no such file' : `cannot be read (${code ?? String(error)})`}`,
    );
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new InputError(`${path}: not valid JSON (${(error as Error).message})`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new InputError(
      `${path}: expected a JSON object with "keys" (simulator options), got ${Array.isArray(data) ? 'an array' : typeof data}`,
    );
  }
  return data as SimulatorOptions;
}

/** Starts the simulator; an invalid scenario is an InputError naming the file and the option. */
export async function startScenario(options: SimulatorOptions, source: string): Promise<Simulator> {
  try {
    return await startSimulator(options);
  } catch (error) {
    if (error instanceof InputError) throw new InputError(`${source}: ${error.message}`);
    throw error;
  }
}

/** A config.json that points every scenario key at the simulator. */
export function configFor(options: SimulatorOptions, url: string): object {
  return {
    key_list: options.keys.map((spec) => {
      const key: Record<string, unknown> = { api_key: spec.key, base_url: url };
      if (spec.organization !== undefined) key['organization'] = spec.organization;
      if (spec.group !== undefined) key['group'] = spec.group;
      return key;
    }),
  };
}

/** The simulator's counters as lines. */
export function formatSimStats(stats: SimStats): string[] {
  const lines = [
    `requests ${stats.requests}, successes ${stats.successes}, rate limited ${stats.rateLimited}, dropped ${stats.dropped}, hung ${stats.hung}`,
  ];
  const statuses = formatCounts(stats.byStatus, 10);
  if (statuses) lines.push(`by status: ${statuses}`);
  const keys = Object.entries(stats.byKey);
  if (keys.length > 0) {
    lines.push(
      ...table(
        ['key', 'requests', 'successes', 'tokens'],
        keys.map(([key, s]) => [key, String(s.requests), String(s.successes), String(s.tokens)]),
      ),
    );
  }
  return lines;
}

function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

export async function simulateCommand(flags: SimulateFlags): Promise<number> {
  const source = flags.scenario ?? 'the default scenario';
  const scenario = flags.scenario ? await readScenario(flags.scenario) : DEFAULT_SCENARIO;
  let options = flags.port === undefined ? scenario : { ...scenario, port: flags.port };
  if (flags.batchDay !== undefined)
    options = { ...options, batch: { ...options.batch, dayMs: flags.batchDay * 1000 } };
  const sim = await startScenario(options, source);
  const say = (line: string) => process.stderr.write(`${line}\n`);
  const config = `${JSON.stringify(configFor(options, sim.url), null, 2)}\n`;
  if (flags.writeConfig !== undefined) {
    try {
      await writeFile(flags.writeConfig, config, { mode: 0o600 });
    } catch (error) {
      await sim.close();
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      throw new InputError(`--write-config ${flags.writeConfig}: cannot be written (${code})`);
    }
  }
  say(`keybatch simulator listening on ${sim.url} (${source}, ${options.keys.length} keys)`);
  if (flags.writeConfig !== undefined) say(`config.json for it written to ${flags.writeConfig}`);
  process.stdout.write(config);
  say('Ctrl-C to stop.');
  await untilSignal();
  await sim.close();
  say('simulator stopped:');
  for (const line of formatSimStats(sim.stats())) say(line);
  return EXIT.ok;
}
