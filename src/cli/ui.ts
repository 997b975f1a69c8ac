/**
 * The dashboard from the command line: `keybatch ui <output.jsonl> [--port N]` serves the page of a
 * run read from its checkpoint (read-only; another process may be writing it) until Ctrl-C, and
 * `keybatch run … --ui [port]` serves the live page of the run it runs, for as long as it runs.
 * Either prints one line on stderr: `keybatch: dashboard at http://127.0.0.1:<port>/?token=<token>`.
 */
import { KeyPool, type KeyPoolOptions, type Progress } from '../index.js';
import { LiveSource, RunDirSource, startDashboard } from '../internal.js';
import { EXIT } from './errors.js';
import type { Display } from './progress.js';

export interface UiFlags {
  /** Port on 127.0.0.1; any free one when absent or 0. */
  port?: number;
}

function untilSignal(): Promise<NodeJS.Signals> {
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      for (const name of signals) process.off(name, stop);
      resolve(signal);
    };
    for (const name of signals) process.on(name, stop);
  });
}

/** `keybatch ui <output>`: serves the run's page until Ctrl-C/SIGTERM/SIGHUP; exit 0. */
export async function uiCommand(output: string, flags: UiFlags): Promise<number> {
  const source = await RunDirSource.open(output);
  try {
    const dashboard = await startDashboard(source, flags.port === undefined ? {} : { port: flags.port });
    process.stderr.write(`keybatch: ${dashboard.line}\n`);
    await untilSignal();
    await dashboard.close();
  } finally {
    source.close();
  }
  return EXIT.ok;
}

/** `--ui [port]` as commander gives it: `true` without a value, else the port. */
export type UiFlag = boolean | number | undefined;

export interface RunDashboard {
  /** The pool the run must use (the dashboard reads its status). */
  readonly pool: KeyPool;
  /** For the run's `onProgress`. */
  readonly onProgress: (progress: Progress) => void;
  /** How often the run should report progress for the page. */
  readonly progressIntervalMs: number;
  /** The run ended: the page shows its last state, then the server and the pool close. */
  close(state: 'finished' | 'stopped'): Promise<void>;
}

/**
 * For `keybatch run --ui`: opens the pool as the run would (so the page sees `pool.status()`),
 * starts the dashboard over it and prints its line through the display.
 */
export async function openRunDashboard(
  ui: Exclude<UiFlag, undefined | false>,
  config: string | undefined,
  output: string,
  poolOptions: KeyPoolOptions,
  display: Display,
): Promise<RunDashboard> {
  const pool = await KeyPool.open(config, { logger: display.logger, ...poolOptions });
  try {
    const source = new LiveSource(pool, { output });
    const dashboard = await startDashboard(source, ui === true ? {} : { port: ui });
    display.line(dashboard.line);
    return {
      pool,
      onProgress: source.onProgress,
      progressIntervalMs: Math.min(1000, display.progressIntervalMs),
      async close(state) {
        await source.end(state).catch(() => undefined);
        await dashboard.close();
        await pool.close();
      },
    };
  } catch (error) {
    await pool.close();
    throw error;
  }
}
