/**
 * `keybatch worker`: joins every run registered in Redis (now or later), runs its chunks with the
 * run's task over this worker's key pool, and leaves a run once it is unregistered. Redis is not
 * trusted with code or destinations (`trust.ts`): a module run is served only with one of the
 * worker's own `--task` modules in the same version, and only at the worker's own endpoints; any
 * other run is refused with one line.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import { KeybatchError } from '../errors.js';
import type { ConfigFile } from '../keys/config.js';
import { KeyPool, type KeyPoolOptions } from '../keys/key-pool.js';
import { consoleLogger, type Logger } from '../logger.js';
import { loadTask } from '../workers/load-task.js';
import type { TaskFunction } from '../workers/types.js';
import {
  BEAT_SCRIPT,
  type RunDescriptor,
  registryKey,
  runsChannel,
  type WorkerBeat,
  workersKey,
} from './names.js';
import { checkRedisUrl, redactRedisUrl } from './options.js';
import { promptTask } from './prompt-task.js';
import type { ServedRun } from './served-run.js';
import { secretOf, signatureRefusal } from './signature.js';
import { keybatchVersion } from './task-identity.js';
import { allowedTasks, baseUrlRefusal, matchTask, ownBaseURL, trustedClient } from './trust.js';

export interface StartWorkerOptions {
  /** The Redis of the runs (the coordinator's `distributed.redis`). Required. */
  redis: string;
  /** @default 'keybatch' */
  namespace?: string;
  /** The key pool: a config path or object, or an open KeyPool. @default as runPipeline resolves it */
  config?: string | ConfigFile | KeyPool;
  /** Options of the KeyPool when `config` is not one. @default {} */
  pool?: KeyPoolOptions;
  /** Chunks run at once (per run). @default 8 */
  concurrency?: number;
  /**
   * The task modules this worker may run (paths or `file:` URLs): a module run is served only when
   * one of these has the module graph the run asks for. Nothing named in Redis is ever imported.
   * @default none (prompt runs only)
   */
  task?: string | readonly string[];
  /** Serve only runs whose descriptor is signed with this secret (HMAC-SHA256). @default $KEYBATCH_SECRET, else any */
  secret?: string;
  /** Base URL of keys without `base_url`; a run asking for another is refused. @default $OPENAI_BASE_URL, else OpenAI's */
  defaultBaseURL?: string;
  /** Per HTTP attempt, milliseconds. @default the run's */
  timeoutMs?: number;
  /** Serve this run only (a coordinator's own lanes). @default every run registered */
  onlyRun?: string;
  /** How often the run registry is read. @default 1000 */
  pollIntervalMs?: number;
  /** @default a logger writing `keybatch: …` lines to stderr */
  logger?: Logger;
}

export interface WorkerHandle {
  readonly id: string;
  /** Runs served now. */
  runs(): string[];
  /** Stops: no new chunks; those running finish (`force`: abandoned, they go back to the queue). */
  close(force?: boolean): Promise<void>;
}

/** Starts a worker; it runs until `close()`. */
export async function startWorker(options: StartWorkerOptions): Promise<WorkerHandle> {
  checkRedisUrl(options.redis, 'redis');
  const tasks = allowedTasks(options.task);
  const logger = options.logger ?? consoleLogger();
  const concurrency = options.concurrency ?? 8;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new KeybatchError(
      'INPUT_INVALID',
      `Expected \`concurrency\` to be a whole number >= 1, got ${concurrency}`,
    );
  }
  const ownPool = !(options.config instanceof KeyPool);
  const pool =
    options.config instanceof KeyPool
      ? options.config
      : // One pool shared through the same Redis by every worker (and the coordinator): rate budgets,
        // key states and counters.
        await KeyPool.open(options.config, { logger, shared: { url: options.redis }, ...options.pool });
  const redis = new Redis(options.redis, { maxRetriesPerRequest: 3, lazyConnect: true });
  redis.on('error', (error: Error) => logger.debug(`redis: ${error.message}`));
  try {
    await redis.connect();
  } catch (error) {
    if (ownPool) await pool.close();
    redis.disconnect();
    throw new KeybatchError(
      'REDIS_UNREACHABLE',
      `Redis ${redactRedisUrl(options.redis)}: cannot connect (${(error as Error).message})`,
    );
  }
  // bullmq is loaded now, not when the first run arrives (a worker is there to serve runs).
  await import('./served-run.js');
  const worker = new DistWorker(options, tasks, pool, redis, logger, concurrency);
  await worker.start();
  return {
    id: worker.id,
    runs: () => worker.runs(),
    close: async (force = false) => {
      await worker.close(force);
      redis.disconnect();
      if (ownPool) await pool.close();
    },
  };
}

class DistWorker {
  readonly id = `${hostname()}:${process.pid}:${randomBytes(2).toString('hex')}`;
  readonly #served = new Map<string, ServedRun>();
  /** Runs refused, with the reason. */
  readonly #refused = new Map<string, string>();
  readonly #starting = new Set<string>();
  readonly #ns: string;
  #timer: NodeJS.Timeout | undefined;
  #subscriber: Redis | undefined;
  #closed = false;
  #polling: Promise<void> | undefined;

  constructor(
    private readonly options: StartWorkerOptions,
    private readonly tasks: readonly string[],
    private readonly pool: KeyPool,
    private readonly redis: Redis,
    private readonly logger: Logger,
    private readonly concurrency: number,
  ) {
    this.#ns = options.namespace ?? 'keybatch';
  }

  runs(): string[] {
    return [...this.#served.keys()];
  }

  async start(): Promise<void> {
    let again = false;
    const tick = () => {
      if (this.#polling) {
        again = true;
        return;
      }
      this.#polling = this.#poll().finally(() => {
        this.#polling = undefined;
        if (again && !this.#closed) {
          again = false;
          tick();
        }
      });
    };
    // A run registered or finished is read at once; the timer reads it anyway (and beats).
    this.#subscriber = this.redis.duplicate();
    this.#subscriber.on('message', tick);
    this.#subscriber.on('error', (error: Error) =>
      this.logger.debug(`run registry channel: ${error.message}`),
    );
    await this.#subscriber.subscribe(runsChannel(this.#ns)).catch(() => 0);
    tick();
    this.#timer = setInterval(tick, this.options.pollIntervalMs ?? 1000);
  }

  async close(force: boolean): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#subscriber?.disconnect();
    await this.#polling;
    const runs = [...this.#served.values()];
    this.#served.clear();
    await Promise.all(runs.map((run) => run.close(force)));
    // Leaving: this worker's heartbeats go (only while the run is still registered).
    await Promise.all(
      [...runs.map((run) => run.runId), ...this.#refused.keys()].map((runId) =>
        this.redis.hdel(workersKey(this.#ns, runId), this.id).catch(() => 0),
      ),
    );
  }

  async #poll(): Promise<void> {
    if (this.#closed) return;
    let registry: Record<string, string>;
    try {
      registry = await this.redis.hgetall(registryKey(this.#ns));
    } catch (error) {
      this.logger.debug(`run registry: ${(error as Error).message}`);
      return;
    }
    for (const [runId, run] of this.#served) {
      if (runId in registry) continue;
      this.#served.delete(runId);
      this.logger.info(`run ${runId} finished; left it`);
      await run.close(true);
    }
    for (const runId of this.#refused.keys()) if (!(runId in registry)) this.#refused.delete(runId);
    for (const [runId, text] of Object.entries(registry)) {
      if (this.#closed) return;
      if (this.options.onlyRun !== undefined && runId !== this.options.onlyRun) continue;
      if (this.#served.has(runId) || this.#refused.has(runId) || this.#starting.has(runId)) continue;
      this.#starting.add(runId);
      try {
        await this.#join(runId, text);
      } finally {
        this.#starting.delete(runId);
      }
    }
    await this.#beat();
  }

  async #join(runId: string, text: string): Promise<void> {
    let descriptor: RunDescriptor;
    try {
      descriptor = JSON.parse(text) as RunDescriptor;
    } catch {
      this.#refuse(runId, 'its registry entry is not JSON');
      return;
    }
    const unsigned = signatureRefusal(
      descriptor as unknown as Record<string, unknown>,
      secretOf(this.options.secret),
    );
    if (unsigned !== undefined) return this.#refuse(runId, unsigned);
    let task: TaskFunction;
    try {
      const found = await this.#task(descriptor);
      if (typeof found === 'string') return this.#refuse(runId, found);
      task = found;
    } catch (error) {
      return this.#refuse(runId, this.pool.scrub((error as Error).message));
    }
    const { ServedRun } = await import('./served-run.js');
    if (this.#closed) return;
    const run = new ServedRun({
      descriptor,
      task,
      pool: this.pool,
      redis: this.options.redis,
      namespace: this.#ns,
      workerId: this.id,
      concurrency: this.concurrency,
      client: trustedClient(descriptor.client, {
        defaultBaseURL: this.options.defaultBaseURL,
        timeoutMs: this.options.timeoutMs,
      }),
      logger: this.logger,
    });
    this.#served.set(runId, run);
    const name = descriptor.task.kind === 'module' ? descriptor.task.name : 'prompts';
    this.logger.info(`serving run ${runId} (task ${name}, ${this.concurrency} at once)`);
  }

  /** The run's task, or why this worker cannot run it. */
  async #task(descriptor: RunDescriptor): Promise<TaskFunction | string> {
    const { task } = descriptor;
    const base = baseUrlRefusal(descriptor.client?.defaultBaseURL, ownBaseURL(this.options.defaultBaseURL));
    if (base !== undefined) return base;
    if (task.kind === 'prompts') {
      const version = await keybatchVersion();
      if (version !== task.version) {
        return `it runs keybatch ${task.version}'s prompt task, this worker is keybatch ${version}`;
      }
      return promptTask(task.settings, (text) => this.pool.scrub(text)) as TaskFunction;
    }
    const found = await matchTask(this.tasks, task);
    if ('refused' in found) return found.refused;
    return loadTask(found.url);
  }

  #refuse(runId: string, reason: string): void {
    this.#refused.set(runId, reason);
    this.logger.warn(`run ${runId} refused: ${reason}`);
  }

  async #beat(): Promise<void> {
    const host = hostname();
    const beats: Array<[string, WorkerBeat]> = [];
    for (const run of this.#served.values()) beats.push([run.runId, { ...run.beat(), host }]);
    for (const [runId, refused] of this.#refused) {
      beats.push([
        runId,
        {
          id: this.id,
          host,
          pid: process.pid,
          concurrency: 0,
          inFlight: 0,
          items: 0,
          chunks: 0,
          rate: 0,
          at: Date.now(),
          refused,
        },
      ]);
    }
    await Promise.all(
      beats.map(([runId, beat]) =>
        this.redis
          .eval(
            BEAT_SCRIPT,
            2,
            registryKey(this.#ns),
            workersKey(this.#ns, runId),
            runId,
            this.id,
            JSON.stringify(beat),
          )
          .catch((error: Error) => this.logger.debug(`heartbeat: ${error.message}`)),
      ),
    );
  }
}
