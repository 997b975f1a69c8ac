/**
 * The coordinator side of a distributed run: a lane runner whose `run(chunk)` enqueues the chunk
 * as a BullMQ job (deterministic id: run id + first item) and resolves with its result when a
 * worker has run it. runPipeline's lanes become window slots, so at most `window` chunks sit in
 * Redis; results are checkpointed by the pipeline as for local lanes, then their job is removed.
 *
 * Exactly once: a result is taken by the first waiter for its job id; a result whose items the
 * checkpoint already holds (the coordinator was killed between checkpointing and removing the job)
 * is discarded and counted. A rerun finds the jobs still queued (adding one again is a no-op) and
 * the results completed meanwhile (a sweep at start), so nothing is sent twice.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { type Job, Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { AbortError, deserializeError, KeybatchError } from '../errors.js';
import { markFinalRequest } from '../keys/final-request.js';
import type { Logger } from '../logger.js';
import type { ClientSettings } from '../workers/protocol.js';
import type { ChunkJob, ChunkOutcome, LaneRunner } from '../workers/runners.js';
import {
  type ChunkData,
  type ChunkReply,
  jobId,
  queueName,
  type RunDescriptor,
  registryKey,
  runsChannel,
  workersKey,
} from './names.js';
import { type ResolvedDistributed, redactRedisUrl } from './options.js';
import { secretOf, signedText } from './signature.js';
import type { TaskIdentity } from './task-identity.js';
import { type WorkerStatus, WorkerWatch } from './worker-watch.js';

export interface CoordinatorInit {
  options: ResolvedDistributed;
  /** The input fingerprint and the options that change results (the checkpoint's identity). */
  identity: { fingerprint: string; options: Record<string, unknown>; chunkSize: number };
  task: TaskIdentity;
  args: unknown;
  client: ClientSettings;
  logger: Logger;
}

/** What the coordinator tells progress and the summary. */
export interface DistributedStatus {
  runId: string;
  /** Workers seen on this run (refused ones included, with `refused`). */
  workers: WorkerStatus[];
  /** Results discarded because their items were already checkpointed. */
  duplicates: number;
  /** Results taken from Redis into the checkpoint. */
  collected: number;
}

type Arrival = { reply: ChunkReply } | { failed: string };

interface Waiter {
  indices: number[];
  /** The job as added (to add again if Redis lost it), and when. */
  data: ChunkData;
  addedAt: number;
  resolve(outcome: ChunkOutcome): void;
  reject(error: unknown): void;
}

/** The run id: the same for every rerun of the same run (input, options, chunk size, task version). */
export function runIdOf(init: Pick<CoordinatorInit, 'identity' | 'task' | 'args'>): string {
  const task =
    init.task.kind === 'module'
      ? { kind: 'module', sha256: init.task.sha256 }
      : { kind: 'prompts', version: init.task.version, settings: init.task.settings };
  const text = JSON.stringify({ ...init.identity, task, args: init.args ?? null });
  return createHash('sha256').update(text).digest('hex').slice(0, 20);
}

export class Coordinator implements LaneRunner {
  readonly threadIds: ReadonlySet<number> = new Set();
  readonly runId: string;
  readonly #options: ResolvedDistributed;
  readonly #logger: Logger;
  readonly #descriptor: RunDescriptor;
  readonly #redis: Redis;
  readonly #queue: Queue<ChunkData, ChunkReply>;
  readonly #events: QueueEvents;
  readonly #watch: WorkerWatch;
  readonly #waiting = new Map<string, Waiter>();
  /** Results no waiter asked for yet (a rerun's chunks completed while no coordinator ran). */
  readonly #arrived = new Map<string, Arrival>();
  /** Job ids whose result went to a waiter (a second sighting of the same completion is ignored). */
  readonly #taken = new Set<string>();
  #isDone: (index: number) => boolean = () => false;
  #duplicates = 0;
  #collected = 0;
  #sweeper: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> | undefined;

  constructor(init: CoordinatorInit) {
    this.#options = init.options;
    this.#logger = init.logger;
    this.runId = runIdOf(init);
    const { namespace: ns } = init.options;
    this.#descriptor = {
      v: 1,
      runId: this.runId,
      queue: queueName(this.runId),
      task: init.task,
      args: init.args ?? null,
      client: init.client,
      lockDurationMs: init.options.lockDurationMs,
      stalledIntervalMs: init.options.stalledIntervalMs,
      maxStalled: init.options.maxStalled,
      coordinator: { host: hostname(), pid: process.pid, startedAt: Date.now() },
    };
    const connection = { url: init.options.redis, maxRetriesPerRequest: null };
    this.#redis = new Redis(init.options.redis, { maxRetriesPerRequest: 3, lazyConnect: true });
    this.#redis.on('error', (error: Error) => this.#logger.debug(`redis: ${error.message}`));
    // Completion events carry the results: the event stream is capped (each chunk makes about six
    // events) so Redis holds a bounded amount, yet long enough that no completion is trimmed before
    // it is read (the sweep finds one that was, but only every sweepIntervalMs).
    const streams = { events: { maxLen: Math.max(2_000, 32 * init.options.window) } };
    this.#queue = new Queue<ChunkData, ChunkReply>(this.#descriptor.queue, {
      connection,
      prefix: ns,
      streams,
    });
    this.#events = new QueueEvents(this.#descriptor.queue, { connection, prefix: ns });
    this.#queue.on('error', (error) => this.#logger.debug(`queue: ${error.message}`));
    this.#events.on('error', (error) => this.#logger.debug(`queue events: ${error.message}`));
    this.#watch = new WorkerWatch(this.#redis, workersKey(ns, this.runId), init.logger);
  }

  /**
   * Registers the run (workers join it), listens for results, and takes in what Redis already
   * holds for it. `isDone` tells which items the checkpoint has.
   */
  async start(isDone: (index: number) => boolean): Promise<void> {
    this.#isDone = isDone;
    try {
      await this.#redis.connect();
    } catch (error) {
      throw new KeybatchError(
        'REDIS_UNREACHABLE',
        `distributed.redis ${redactRedisUrl(this.#options.redis)}: cannot connect (${(error as Error).message})`,
        { cause: error },
      );
    }
    this.#events.on('completed', ({ jobId: id, returnvalue }) =>
      this.#arrive(id, { reply: returnvalue as unknown as ChunkReply }),
    );
    this.#events.on('failed', ({ jobId: id, failedReason }) => this.#arrive(id, { failed: failedReason }));
    await this.#events.waitUntilReady();
    const ns = this.#options.namespace;
    await this.#redis.hset(registryKey(ns), this.runId, this.#registryText());
    await this.#redis.publish(runsChannel(ns), this.runId);
    await this.#sweep();
    this.#sweeper = setInterval(() => void this.#sweep(), this.#options.sweepIntervalMs);
    this.#sweeper.unref();
    this.#watch.start(this.#options.statusIntervalMs);
  }

  /** Reads the workers' heartbeats now (for the last report of a run). */
  async refresh(): Promise<void> {
    await this.#watch.refresh();
  }

  status(): DistributedStatus {
    return {
      runId: this.runId,
      workers: this.#watch.workers(),
      duplicates: this.#duplicates,
      collected: this.#collected,
    };
  }

  async run(job: ChunkJob): Promise<ChunkOutcome> {
    if (job.signal.aborted) throw new AbortError();
    const indices = job.indices;
    if (!indices || indices.length === 0) throw new Error('a distributed chunk needs its input positions');
    const id = jobId(this.runId, indices[0]!);
    const data: ChunkData = { i: indices, c: job.chunkIndex };
    if (job.encodeFor) data.enc = true;
    if (job.lines) data.lines = job.lines.map((line) => line.toString('utf8')).join('\n');
    else data.items = job.chunk;
    const result = new Promise<ChunkOutcome>((resolve, reject) => {
      this.#waiting.set(id, { indices, data, addedAt: Date.now(), resolve, reject });
    });
    const onAbort = () => {
      // The job stays in Redis: a rerun collects its result instead of sending it again.
      this.#waiting.get(id)?.reject(job.signal.reason ?? new AbortError());
      this.#waiting.delete(id);
    };
    job.signal.addEventListener('abort', onAbort, { once: true });
    try {
      this.#taken.delete(id);
      const early = this.#arrived.get(id);
      if (early) {
        this.#arrived.delete(id);
        this.#deliver(id, early);
      } else {
        // A job with this id already in Redis (queued, running or done) is kept as it is.
        await this.#add(id, data);
      }
      return await result;
    } catch (error) {
      this.#waiting.delete(id);
      throw error;
    } finally {
      job.signal.removeEventListener('abort', onAbort);
    }
  }

  /** The run is complete (output merged): unregister it and remove everything it left in Redis. */
  async complete(): Promise<void> {
    const ns = this.#options.namespace;
    // No sweep may register the run again once it is gone.
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    await this.#sweeping;
    // The summary shows the workers as they were last.
    await this.#watch.refresh();
    await this.#redis.hdel(registryKey(ns), this.runId);
    await this.#redis.publish(runsChannel(ns), this.runId);
    await this.#queue.obliterate({ force: true });
    await this.#redis.del(workersKey(ns, this.runId));
  }

  /** Closed with the coordinator (its own lanes: an in-process worker). */
  readonly alsoClose: Array<() => Promise<void>> = [];

  async close(): Promise<void> {
    await Promise.allSettled(this.alsoClose.map((close) => close()));
    clearInterval(this.#sweeper);
    this.#watch.stop();
    await this.#sweeping;
    for (const waiter of this.#waiting.values()) waiter.reject(new AbortError('the coordinator closed'));
    this.#waiting.clear();
    await Promise.allSettled([this.#events.close(), this.#queue.close()]);
    this.#redis.disconnect();
  }

  #arrive(id: string, arrival: Arrival): void {
    if (this.#taken.has(id)) return;
    if (this.#waiting.has(id)) {
      this.#deliver(id, arrival);
      return;
    }
    const reply = 'reply' in arrival ? arrival.reply : undefined;
    if (reply && Array.isArray(reply.i) && reply.ok && reply.i.every((i) => this.#isDone(i))) {
      // Checkpointed already (by a coordinator killed before it removed the job): discarded.
      this.#duplicates += reply.i.length;
      this.#taken.add(id);
      void this.#remove(id);
      return;
    }
    this.#arrived.set(id, arrival);
  }

  #deliver(id: string, arrival: Arrival): void {
    const waiter = this.#waiting.get(id);
    if (!waiter) return;
    this.#waiting.delete(id);
    this.#taken.add(id);
    if ('failed' in arrival) {
      void this.#remove(id).then(() =>
        waiter.reject(new KeybatchError('TASK_FAILED', `chunk ${id} failed on a worker: ${arrival.failed}`)),
      );
      return;
    }
    const { reply } = arrival;
    if (!reply.ok) {
      const error = deserializeError(reply.error);
      void this.#remove(id).then(() => waiter.reject(reply.final ? markFinalRequest(error) : error));
      return;
    }
    if ('lines' in reply) {
      const same =
        reply.i.length === waiter.indices.length && reply.i.every((i, k) => i === waiter.indices[k]);
      if (!same) {
        void this.#remove(id).then(() =>
          waiter.reject(
            new KeybatchError('TASK_FAILED', `chunk ${id} in Redis holds other items; sent again`),
          ),
        );
        return;
      }
      this.#collected += 1;
      waiter.resolve({
        encoded: { bytes: Buffer.from(reply.lines, 'utf8'), refused: reply.refused },
        ack: () => this.#remove(id),
      });
      return;
    }
    const byIndex = new Map<number, unknown>();
    reply.i.forEach((index, k) => {
      byIndex.set(index, reply.results[k]);
    });
    if (!waiter.indices.every((index) => byIndex.has(index))) {
      // A job left by a run cut into other chunks: run this chunk afresh.
      void this.#remove(id).then(() =>
        waiter.reject(new KeybatchError('TASK_FAILED', `chunk ${id} in Redis holds other items; sent again`)),
      );
      return;
    }
    this.#duplicates += reply.i.length - waiter.indices.length;
    this.#collected += 1;
    waiter.resolve({
      results: waiter.indices.map((index) => byIndex.get(index)),
      ack: () => this.#remove(id),
    });
  }

  async #add(id: string, data: ChunkData): Promise<void> {
    await this.#queue.add('chunk', data, { jobId: id, removeOnFail: false, removeOnComplete: false });
  }

  /**
   * Redis lost what it held (restarted empty): the run is registered again (workers rejoin) and the
   * chunks awaited whose job is gone are queued again.
   */
  /** The descriptor as registered: signed with the secret (`KEYBATCH_SECRET`) when there is one. */
  #registryText(): string {
    return signedText(this.#descriptor, secretOf(this.#options.secret));
  }

  async #restore(): Promise<void> {
    const ns = this.#options.namespace;
    if ((await this.#redis.hsetnx(registryKey(ns), this.runId, this.#registryText())) === 1) {
      this.#logger.warn(`run ${this.runId} was gone from Redis: registered again`);
      await this.#redis.publish(runsChannel(ns), this.runId);
    }
    const settled = Date.now() - this.#options.sweepIntervalMs;
    let lost = 0;
    for (const [id, waiter] of [...this.#waiting]) {
      if (waiter.addedAt > settled || (await this.#queue.getJob(id))) continue;
      if (this.#waiting.get(id) !== waiter) continue;
      waiter.addedAt = Date.now();
      await this.#add(id, waiter.data);
      lost += 1;
    }
    if (lost > 0) this.#logger.warn(`${lost} chunk(s) awaited were gone from Redis: queued again`);
  }

  async #remove(id: string): Promise<void> {
    try {
      await this.#queue.remove(id);
    } catch (error) {
      // Left for the end of the run (the queue is obliterated), or for the rerun's sweep.
      this.#logger.debug(`job ${id}: not removed (${(error as Error).message})`);
    }
  }

  /** Results in Redis that no event brought (completed before this coordinator listened, or missed). */
  #sweep(): Promise<void> {
    this.#sweeping ??= (async () => {
      try {
        for (const state of ['completed', 'failed'] as const) {
          for (let start = 0; ; start += 200) {
            const jobs = (await this.#queue.getJobs([state], start, start + 199)) as Array<
              Job<ChunkData, ChunkReply> | undefined
            >;
            for (const job of jobs) {
              if (!job?.id) continue;
              if (state === 'failed') this.#arrive(job.id, { failed: job.failedReason });
              else this.#arrive(job.id, { reply: job.returnvalue });
            }
            if (jobs.length < 200) break;
          }
        }
        await this.#restore();
      } catch (error) {
        this.#logger.debug(`sweep: ${(error as Error).message}`);
      } finally {
        this.#sweeping = undefined;
      }
    })();
    return this.#sweeping;
  }
}
