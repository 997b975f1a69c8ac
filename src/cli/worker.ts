/**
 * `keybatch worker --redis <url> [-c config.json] [--concurrency N] [--task module]... [--timeout s]`:
 * serves distributed runs until stopped. The first SIGINT/SIGTERM/SIGHUP lets the chunks running
 * finish, then exits 0; a second abandons them (they go back to the queue for another worker).
 */
import { startWorker } from '../distributed/index.js';
import { consoleLogger, type Progress } from '../index.js';
import { EXIT } from './errors.js';
import { signalExitCode } from './interrupt.js';
import { redactRedisUrl } from './redact-url.js';

export interface WorkerFlags {
  redis?: string;
  config?: string;
  concurrency?: number;
  /** `--task <module>`, repeatable: the task modules this worker may run. */
  task?: string[];
  /** Per HTTP attempt, milliseconds (the flag is in seconds). */
  timeout?: number;
  verbose?: boolean;
}

const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** The Redis URL: `--redis`, else `KEYBATCH_REDIS`. */
export function redisUrl(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return flag ?? (env['KEYBATCH_REDIS'] || undefined);
}

export async function workerCommand(flags: WorkerFlags): Promise<number> {
  const redis = redisUrl(flags.redis);
  if (redis === undefined) {
    process.stderr.write('keybatch: worker needs --redis <url> (or KEYBATCH_REDIS) (see --help)\n');
    return EXIT.usage;
  }
  const logger = consoleLogger({ verbose: flags.verbose === true });
  const worker = await startWorker({
    redis,
    ...(flags.config !== undefined ? { config: flags.config } : {}),
    ...(flags.concurrency !== undefined ? { concurrency: flags.concurrency } : {}),
    ...(flags.task !== undefined && flags.task.length > 0 ? { task: flags.task } : {}),
    ...(flags.timeout !== undefined ? { timeoutMs: flags.timeout } : {}),
    logger,
  });
  logger.info(`worker ${worker.id} on ${redactRedisUrl(redis)}: waiting for runs (Ctrl-C stops)`);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    const onSignal = (name: NodeJS.Signals) => {
      for (const s of SIGNALS) process.off(s, onSignal);
      resolve(name);
    };
    for (const s of SIGNALS) process.on(s, onSignal);
  });
  logger.info(`${signal}: finishing the chunks running, then leaving (${signal} again leaves at once)`);
  const again = (name: NodeJS.Signals) => {
    logger.warn(`${name} again: leaving now; the chunks running go back to the queue`);
    process.exit(signalExitCode(name));
  };
  for (const s of SIGNALS) process.once(s, again);
  await worker.close();
  for (const s of SIGNALS) process.off(s, again);
  return EXIT.ok;
}

/** The workers line of a distributed run's progress and summary, or undefined for a local run. */
export function workersLine(progress: Pick<Progress, 'workers'>): string | undefined {
  const workers = progress.workers;
  if (!workers) return undefined;
  const serving = workers.filter((w) => !w.refused && !w.gone);
  const parts = serving.map(
    (w) =>
      `${w.id} ${w.rate.toFixed(1)}/s, ${w.inFlight} in flight, seen ${Math.round(w.lastSeenMs / 1000)} s ago`,
  );
  const gone = workers.filter((w) => w.gone && !w.refused).length;
  const refused = workers.filter((w) => w.refused).length;
  const extra = [gone ? `${gone} gone` : '', refused ? `${refused} refused` : ''].filter(Boolean).join(', ');
  return `workers: ${serving.length}${extra ? ` (${extra})` : ''}${parts.length ? `: ${parts.join('; ')}` : ''}`;
}

/** Shows the workers line of a distributed run's progress when who serves changes, and every 30 s. */
export function workersReporter(
  show: (line: string) => void,
  everyMs = 30_000,
): (progress: Progress) => void {
  let last: string | undefined;
  let at = 0;
  return (progress) => {
    const workers = progress.workers;
    if (!workers) return;
    const shape = workers.map((w) => `${w.id}:${w.refused ? 'r' : w.gone ? 'g' : 's'}`).join(',');
    const now = Date.now();
    if (shape === last && now - at < everyMs) return;
    last = shape;
    at = now;
    const line = workersLine(progress);
    if (line) show(line);
  };
}
