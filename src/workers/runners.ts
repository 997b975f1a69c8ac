/**
 * Lane runners: where a chunk's task runs. In-process (the function given, closures and all) or on
 * piscina worker threads (a task module), both with a client over the one main-thread KeyPool.
 */
import { setMaxListeners } from 'node:events';
import { createRequire } from 'node:module';
import { MessageChannel, type TransferListItem } from 'node:worker_threads';
import type OpenAI from 'openai';
import { Piscina } from 'piscina';
import type { EncodedResults } from '../checkpoint/record.js';
import { AbortError, deserializeError } from '../errors.js';
import { type ClientOptions, createClient } from '../keys/client.js';
import { markFinalRequest } from '../keys/final-request.js';
import type { KeyBroker } from '../keys/types.js';
import { type AnswerMemo, memoFetch } from './answer-memo.js';
import { serveBroker } from './broker-host.js';
import { needsTypeScript } from './load-task.js';
import type { ClientSettings, ThreadReply, ThreadTask } from './protocol.js';
import { checkResults } from './results.js';
import type { TaskFunction } from './types.js';

export interface ChunkJob {
  chunk: unknown[];
  /** The items as JSON lines' bytes, instead of `chunk` (file input on worker threads). */
  lines?: Buffer[];
  /** The items' input positions, when a worker thread may encode the results for the checkpoint. */
  encodeFor?: number[];
  /** The items' input positions (a distributed chunk's job id is made from them). */
  indices?: number[];
  chunkIndex: number;
  lane: number;
  signal: AbortSignal;
  args: unknown;
  /** The chunk's paid answers, given again on a retry or a split (`answer-memo.ts`). */
  memo?: AnswerMemo;
}

/**
 * What a chunk gave: its results, or (worker threads, `encodeFor`) its lane-file lines. `ack`, if
 * set, is called once they are checkpointed (a distributed chunk's job is removed from Redis then).
 */
export type ChunkOutcome = ({ results: unknown[] } | { encoded: EncodedResults }) & {
  ack?: () => Promise<void>;
};

export interface LaneRunner {
  run(job: ChunkJob): Promise<ChunkOutcome>;
  close(): Promise<void>;
  /** Worker thread ids that ran chunks (empty for in-process lanes). */
  readonly threadIds: ReadonlySet<number>;
  /** Whether it answers a job's `memo` (local lanes and threads; not a distributed run's queue). */
  readonly memoizes?: boolean;
}

export function inProcessRunner(fn: TaskFunction, broker: KeyBroker, client: ClientOptions): LaneRunner {
  const clients = new Map<number, OpenAI>();
  const clientFor = (lane: number) => {
    let found = clients.get(lane);
    if (!found) {
      found = createClient(broker, { ...client, workerId: lane });
      clients.set(lane, found);
    }
    return found;
  };
  return {
    threadIds: new Set(),
    memoizes: true,
    async run(job) {
      // Each chunk gets a signal of its own, tied to the run's for as long as the chunk runs: the
      // openai SDK never removes the abort listener it adds to a request's signal, so on the run's
      // one signal they would pile up (memory, and addEventListener scans them all: quadratic).
      const controller = new AbortController();
      // A chunk's requests all listen on it (`Promise.all(chunk.map(… { signal }))`): no limit.
      setMaxListeners(0, controller.signal);
      const onAbort = () => controller.abort(job.signal.reason);
      if (job.signal.aborted) onAbort();
      else job.signal.addEventListener('abort', onAbort, { once: true });
      try {
        const results = await fn(job.chunk, {
          workerId: job.lane,
          chunkIndex: job.chunkIndex,
          client: job.memo ? memoClient(broker, client, job.lane, job.memo) : clientFor(job.lane),
          signal: controller.signal,
          args: job.args,
        });
        return { results: checkResults(results, job.chunk.length, job.chunkIndex) };
      } catch (error) {
        await job.memo?.settled();
        throw error;
      } finally {
        job.signal.removeEventListener('abort', onAbort);
      }
    },
    close: async () => {},
  };
}

/** A client for one chunk attempt whose answers go through the chunk's memo. */
function memoClient(broker: KeyBroker, options: ClientOptions, lane: number, memo: AnswerMemo): OpenAI {
  return createClient(broker, { ...options, workerId: lane, wrapFetch: (fetch) => memoFetch(fetch, memo) });
}

/** Lines joined by '\n' into a buffer of their own (not Node's shared pool), so it can be transferred. */
function joinLines(lines: readonly Buffer[]): ArrayBuffer {
  let size = lines.length - 1;
  for (const line of lines) size += line.length;
  const joined = new Uint8Array(new ArrayBuffer(Math.max(0, size)));
  let at = 0;
  lines.forEach((line, k) => {
    if (k > 0) joined[at++] = 0x0a;
    joined.set(line, at);
    at += line.length;
  });
  return joined.buffer;
}

function workerEntry(): { filename: string; typescript: boolean } {
  const typescript = import.meta.url.endsWith('.ts');
  return {
    filename: new URL(`./worker-entry.${typescript ? 'ts' : 'js'}`, import.meta.url).href,
    typescript,
  };
}

export function threadRunner(
  module: string,
  broker: KeyBroker,
  options: { threads: number; concurrency: number; client: ClientSettings },
): LaneRunner {
  const entry = workerEntry();
  const tsx = entry.typescript || needsTypeScript(module);
  const piscina = new Piscina({
    filename: entry.filename,
    minThreads: options.threads,
    maxThreads: options.threads,
    concurrentTasksPerWorker: options.concurrency,
    maxQueue: 'auto',
    // Tasks arrive as 'message' events. Piscina's default (Atomics.wait + receiveMessageOnPort)
    // leaks the per-chunk broker MessagePort on Node 20 (~3 KB each, never freed): RSS grew with
    // the number of chunks (bench/pipeline.ts).
    atomics: 'disabled',
    // A thread's young generation may otherwise grow to 48 MB, mostly garbage between scavenges:
    // capped, two threads' peak RSS is 30-40 MB lower at the same speed (bench/pipeline.ts).
    resourceLimits: { maxYoungGenerationSizeMb: 16 },
    ...(tsx ? { execArgv: ['--import', createRequire(import.meta.url).resolve('tsx')] } : {}),
  });
  const threadIds = new Set<number>();
  return {
    threadIds,
    memoizes: true,
    async run(job) {
      if (job.signal.aborted) throw new AbortError();
      const { port1, port2 } = new MessageChannel();
      const host = serveBroker(port1, broker);
      const onAbort = () => host.abort();
      job.signal.addEventListener('abort', onAbort, { once: true });
      try {
        const task: ThreadTask = {
          module,
          chunk: job.lines ? [] : job.chunk,
          chunkIndex: job.chunkIndex,
          workerId: job.lane,
          args: job.args,
          client: options.client,
          port: port2,
        };
        const transferList: TransferListItem[] = [port2];
        if (job.encodeFor) task.indices = job.encodeFor;
        if (job.memo) task.memo = job.memo.unused();
        if (job.lines) {
          // File lines go as bytes in a buffer moved, not copied, to the thread, which parses them.
          task.lines = joinLines(job.lines);
          transferList.push(task.lines);
        }
        const reply = (await piscina.run(task, { transferList })) as ThreadReply;
        if (reply.memo) job.memo?.apply(reply.memo);
        if (!reply.ok) {
          const error = deserializeError(reply.error);
          throw reply.final ? markFinalRequest(error) : error;
        }
        threadIds.add(reply.threadId);
        return 'encoded' in reply ? { encoded: reply.encoded } : { results: reply.results };
      } finally {
        job.signal.removeEventListener('abort', onAbort);
        host.close();
      }
    },
    close: () => piscina.destroy(),
  };
}
