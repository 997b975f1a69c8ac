/**
 * One run a worker serves: a BullMQ worker on the run's queue whose processor runs each chunk
 * with the run's task over the worker's key pool, and returns its results (or its error as plain
 * data) for the coordinator to checkpoint.
 */
import { type Job, Worker } from 'bullmq';
import { finalErrorCode } from '../checkpoint/final-error.js';
import { serializeRecord } from '../checkpoint/record.js';
import { serializeError } from '../errors.js';
import { isFinalRequestError } from '../keys/final-request.js';
import type { KeyPool } from '../keys/key-pool.js';
import type { Logger } from '../logger.js';
import type { ClientSettings } from '../workers/protocol.js';
import { inProcessRunner, type LaneRunner } from '../workers/runners.js';
import type { TaskFunction } from '../workers/types.js';
import type { ChunkData, ChunkReply, RunDescriptor, WorkerBeat } from './names.js';

const RATE_WINDOW_MS = 10_000;

/** The results as checkpoint lines: the coordinator appends them as they are (no parse, no serialise). */
function encodeLines(indices: number[], results: readonly unknown[]): { lines: string; refused: string[] } {
  let lines = '';
  const refused: string[] = [];
  results.forEach((r, k) => {
    lines += serializeRecord({ i: indices[k]!, r });
    const code = finalErrorCode(r);
    if (code !== undefined) refused.push(code);
  });
  return { lines, refused };
}

export interface ServedRunInit {
  descriptor: RunDescriptor;
  task: TaskFunction;
  pool: KeyPool;
  redis: string;
  namespace: string;
  workerId: string;
  concurrency: number;
  /** The client settings the worker trusts (`trustedClient`), never the descriptor's as they are. */
  client: ClientSettings;
  logger: Logger;
}

export class ServedRun {
  readonly #bull: Worker<ChunkData, ChunkReply>;
  readonly #runner: LaneRunner;
  readonly #init: ServedRunInit;
  /** Lane numbers in use (each lane's client starts its key rotation one key further). */
  readonly #slots = new Set<number>();
  #inFlight = 0;
  #items = 0;
  #chunks = 0;
  readonly #samples: Array<{ at: number; items: number }> = [{ at: Date.now(), items: 0 }];

  constructor(init: ServedRunInit) {
    this.#init = init;
    const { descriptor } = init;
    this.#runner = inProcessRunner(init.task, init.pool, init.client);
    this.#bull = new Worker<ChunkData, ChunkReply>(
      descriptor.queue,
      (job, _token, signal) => this.#process(job, signal),
      {
        connection: { url: init.redis, maxRetriesPerRequest: null },
        prefix: init.namespace,
        name: init.workerId,
        concurrency: init.concurrency,
        lockDuration: descriptor.lockDurationMs,
        stalledInterval: descriptor.stalledIntervalMs,
        maxStalledCount: descriptor.maxStalled,
        // Completed jobs are kept (the default): the coordinator removes each once it is checkpointed.
      },
    );
    this.#bull.on('error', (error) => init.logger.debug(`run ${descriptor.runId}: ${error.message}`));
  }

  get runId(): string {
    return this.#init.descriptor.runId;
  }

  beat(now = Date.now()): WorkerBeat {
    this.#samples.push({ at: now, items: this.#items });
    while (this.#samples.length > 2 && this.#samples[0]!.at < now - RATE_WINDOW_MS) this.#samples.shift();
    const first = this.#samples[0]!;
    const span = now - first.at;
    return {
      id: this.#init.workerId,
      host: '',
      pid: process.pid,
      concurrency: this.#init.concurrency,
      inFlight: this.#inFlight,
      items: this.#items,
      chunks: this.#chunks,
      rate: span > 0 ? ((this.#items - first.items) * 1000) / span : 0,
      at: now,
    };
  }

  /** Stops taking chunks; `force` abandons those running (they go back to the queue). */
  async close(force = false): Promise<void> {
    await this.#bull.close(force);
    await this.#runner.close();
  }

  async #process(job: Job<ChunkData, ChunkReply>, signal: AbortSignal | undefined): Promise<ChunkReply> {
    const { i: indices, c: chunkIndex } = job.data;
    const chunk =
      job.data.lines !== undefined
        ? job.data.lines.split('\n').map((line) => JSON.parse(line))
        : (job.data.items ?? []);
    let lane = 0;
    while (this.#slots.has(lane)) lane++;
    this.#slots.add(lane);
    this.#inFlight += indices.length;
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const { workerId: w } = this.#init;
    try {
      const outcome = await this.#runner.run({
        chunk,
        chunkIndex,
        lane,
        signal: controller.signal,
        args: this.#init.descriptor.args,
      });
      const results = 'results' in outcome ? outcome.results : [];
      this.#items += indices.length;
      this.#chunks += 1;
      if (job.data.enc) return { ok: true, i: indices, ...encodeLines(indices, results), w };
      return { ok: true, i: indices, results, w };
    } catch (error) {
      const data = serializeError(error);
      data.message = this.#init.pool.scrub(data.message);
      delete data.stack;
      if (data.code === 'ABORTED') {
        // This worker gave the chunk up (it is leaving): for the coordinator a failed attempt to
        // retry, never a stop of the whole run.
        data.code = 'TASK_FAILED';
        data.message = `chunk abandoned by worker ${w}: ${data.message}`;
      }
      const reply: ChunkReply = { ok: false, i: indices, error: data, w };
      if (isFinalRequestError(error)) reply.final = true;
      return reply;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.#inFlight -= indices.length;
      this.#slots.delete(lane);
    }
  }
}
