/** Where a run's chunks go: local lanes (in-process or worker threads), or a distributed run's queue. */
import type { Coordinator } from '../distributed/coordinator.js';
import type { KeyPool } from '../keys/key-pool.js';
import type { Logger } from '../logger.js';
import { moduleUrl } from '../workers/load-task.js';
import { inProcessRunner, type LaneRunner, threadRunner } from '../workers/runners.js';
import type { TaskFunction } from '../workers/types.js';
import type { ResolvedOptions } from './options.js';
import type { PipelineTask } from './result.js';

/** Resolves after `ms`, or at once when `signal` aborts. */
export const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });

/** Local lanes: in-process for a function, worker threads for a module. */
export function createLaneRunner<T, R, A>(
  fn: PipelineTask<T, R, A>,
  pool: KeyPool,
  opts: ResolvedOptions<A, T>,
  stopped?: AbortSignal,
): LaneRunner {
  if (typeof fn === 'function') {
    const client =
      opts.drainStopsSending && stopped ? { ...opts.client, stopSending: stopped } : (opts.client ?? {});
    return inProcessRunner(fn as TaskFunction, pool, client);
  }
  const { onAttempt: _, fetch: __, ...settings } = opts.client ?? {};
  return threadRunner(moduleUrl(fn), pool, {
    threads: opts.workers,
    concurrency: opts.concurrency,
    client: settings,
  });
}

/** A distributed run's coordinator, as the lane runner (bullmq is loaded only then). */
export async function openDistributedRunner<A, T>(init: {
  opts: ResolvedOptions<A, T>;
  fn: unknown;
  pool: KeyPool;
  logger: Logger;
  fingerprint: string;
  isDone: (i: number) => boolean;
}): Promise<Coordinator> {
  const { opts } = init;
  const { openCoordinator } = await import('../distributed/open-coordinator.js');
  return openCoordinator({
    distributed: opts.distributed!,
    fn: init.fn,
    fingerprint: init.fingerprint,
    resultOptions: opts.resultOptions,
    chunkSize: opts.chunkSize,
    args: opts.args,
    client: opts.client,
    logger: init.logger,
    isDone: init.isDone,
    pool: init.pool,
  });
}
