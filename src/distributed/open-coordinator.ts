/**
 * The coordinator's side of a distributed run: registers the run in Redis and, with `lanes`, starts
 * the coordinator's own in-process worker. runPipeline loads this module only for a distributed run
 * (it loads bullmq and ioredis).
 */
import { InputError } from '../errors.js';
import type { ClientOptions } from '../keys/client.js';
import type { KeyPool } from '../keys/key-pool.js';
import type { Logger } from '../logger.js';
import { moduleUrl } from '../workers/load-task.js';
import type { ClientSettings } from '../workers/protocol.js';
import { Coordinator } from './coordinator.js';
import { type DistributedOptions, resolveDistributed } from './options.js';
import { keybatchVersion, moduleIdentity, type TaskIdentity } from './task-identity.js';
import { startWorker } from './worker.js';

export interface CoordinatorRequest {
  distributed: DistributedOptions;
  fn: unknown;
  fingerprint: string;
  resultOptions: Record<string, unknown>;
  chunkSize: number;
  args: unknown;
  client: ClientOptions | undefined;
  logger: Logger;
  isDone: (index: number) => boolean;
  /** The run's pool (its own lanes lease from it). */
  pool: KeyPool;
}

/** The client settings that travel to workers (no functions: `onAttempt` and `fetch` stay here). */
function clientSettings(client: ClientOptions | undefined): ClientSettings {
  const settings: ClientSettings = {};
  if (client?.retry) settings.retry = { ...client.retry };
  if (client?.timeoutMs !== undefined) settings.timeoutMs = client.timeoutMs;
  if (client?.defaultBaseURL !== undefined) settings.defaultBaseURL = client.defaultBaseURL;
  return settings;
}

async function taskIdentity(request: CoordinatorRequest): Promise<TaskIdentity> {
  const spec = request.distributed.task;
  if (spec?.kind === 'prompts') {
    return { kind: 'prompts', version: await keybatchVersion(), settings: spec.settings };
  }
  const ref = spec?.kind === 'module' ? spec.ref : request.fn;
  if (typeof ref !== 'string' && !(ref instanceof URL)) {
    throw new InputError(
      'a distributed run needs `fn` as a task module (path or URL): a function cannot travel to workers',
    );
  }
  return moduleIdentity(moduleUrl(ref));
}

/** Registers the run in Redis and takes in what is there already; the pipeline then runs its chunks through it. */
export async function openCoordinator(request: CoordinatorRequest): Promise<Coordinator> {
  const task = await taskIdentity(request);
  const coordinator = new Coordinator({
    options: resolveDistributed(request.distributed),
    identity: {
      fingerprint: request.fingerprint,
      options: request.resultOptions,
      chunkSize: request.chunkSize,
    },
    task,
    args: request.args,
    client: clientSettings(request.client),
    logger: request.logger,
  });
  try {
    await coordinator.start(request.isDone);
    const { lanes, redis, namespace, secret } = resolveDistributed(request.distributed);
    if (lanes > 0) {
      // Its own lanes: an in-process worker, over this run's pool, that takes chunks like any other.
      const local = await startWorker({
        redis,
        namespace,
        config: request.pool,
        concurrency: lanes,
        logger: request.logger,
        onlyRun: coordinator.runId,
        ...(secret !== undefined ? { secret } : {}),
        // The coordinator's own module and endpoints: its lanes trust what it trusts.
        ...(task.kind === 'module' ? { task: task.ref } : {}),
        ...(request.client?.defaultBaseURL !== undefined
          ? { defaultBaseURL: request.client.defaultBaseURL }
          : {}),
      });
      coordinator.alsoClose.push(() => local.close());
    }
  } catch (error) {
    await coordinator.close();
    throw error;
  }
  return coordinator;
}
