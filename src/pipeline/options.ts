/** runPipeline's options: all optional, one defaults constant, validated up front, frozen. */
import { type DistributedOptions, resolveDistributed } from '../distributed/options.js';
import { InputError, type SerializedError } from '../errors.js';
import type { ClientOptions } from '../keys/client.js';
import type { KeyPoolOptions } from '../keys/key-pool.js';
import type { Logger } from '../logger.js';
import type { Progress } from './progress.js';

export interface PipelineOptions<A = unknown, T = unknown> {
  /** Lanes: in-process lanes for a function, worker threads for a module (at most 64). @default 4 */
  workers?: number;
  /** Items per chunk handed to `fn`. @default 10 */
  chunkSize?: number;
  /** Chunks in flight per lane (at most 1024). @default 1 */
  concurrency?: number;
  /** The run directory (manifest + per-lane checkpoints). @default `<output>.keybatch` with `output`, else none */
  checkpoint?: string;
  /** Write the results here (.jsonl, one line per item, input order) instead of returning them. */
  output?: string;
  /** Skip items already in the checkpoint; `false` starts over. @default true */
  resume?: boolean;
  /**
   * Let `output` replace an existing file that is not this run's output (one the run directory's
   * last merge did not write, or that changed since). Without it such a run refuses
   * (`OUTPUT_REFUSED`) before sending anything. It never lets the output replace the input, and
   * the checkpoint rules are unchanged (a mismatch still needs `resume: false`).
   * @default false
   */
  overwrite?: boolean;
  /**
   * The input file, when `data` is not its path (e.g. records read from it): `output` may never
   * replace it.
   * @default `data` when it is a path, else none
   */
  inputFile?: string;
  /** Passed to `fn` as `ctx.args` (structured-cloned into worker threads). */
  args?: A;
  /**
   * Stops the run at once: no new chunks, the requests in flight aborted (their chunks are redone by
   * the rerun); rejects with `AbortError` carrying `.stats`. The checkpoint stays resumable.
   */
  signal?: AbortSignal;
  /**
   * Stops the run gracefully: no new chunks; the chunks in flight finish and are checkpointed (what
   * was paid for is kept), then it rejects with `AbortError` carrying `.stats`. What the first
   * Ctrl-C does with `handleSignals`.
   */
  stopSignal?: AbortSignal;
  /**
   * On a first stop (drain), a request not yet on the wire is not sent: one waiting for a key or
   * a pacer slot, or for its retry, ends the chunk as stopped (a rerun runs it). Meant for tasks of
   * one request per item, like `runPrompts`; with several requests per chunk, the steps already
   * paid for are lost. In-process lanes only. @default false
   */
  drainStopsSending?: boolean;
  /** Called about every `progressIntervalMs`, and once at the end. */
  onProgress?: (progress: Progress) => void;
  /** @default 1000 */
  progressIntervalMs?: number;
  /**
   * Retries of a chunk whose `fn` throws, before its items are recorded as failed. A retry runs `fn`
   * on the whole chunk again (every step, every item). An error from a request that can never
   * succeed (an `openai` APIError with a final 4xx: 400, 404, 413, 422, …) is not retried.
   * @default 2
   */
  chunkRetries?: number;
  /** First delay between chunk retries; doubles each time. @default 500 */
  chunkRetryDelayMs?: number;
  /**
   * The output line (and in-memory result) of an item whose chunk failed, e.g. a record with an
   * `error` field; the default line is `{"error":{code,message,status}}` and the result a hole.
   */
  failureOutput?: (item: T, error: SerializedError) => unknown;
  /**
   * How many items `data` holds, when it is an iterable whose size the caller knows (for progress,
   * ETA and `keybatch status`). Arrays and files are counted without it.
   */
  total?: number;
  /**
   * Run only the first `limit` pending items (whole chunks: a chunk that starts below the limit
   * runs whole). Not part of the checkpoint's identity, so a rerun without it continues the same
   * run. When items are still pending after them, the run stops with `LIMIT_REACHED` (resumable,
   * `.stats` set) and the output is not merged yet; when none are, the run completes as usual.
   * @default none (all)
   */
  limit?: number;
  /** Values that change results (e.g. the model); a checkpoint made with others is refused. @default {} */
  resultOptions?: Record<string, unknown>;
  /**
   * Handle SIGINT, SIGTERM and SIGHUP while the run goes: the first stops taking chunks and lets
   * those in flight finish and checkpoint, then the run rejects with `AbortError` carrying `.stats`
   * (resumable); a second aborts the requests in flight and rejects at once. The process is never
   * ended: that is the caller's choice.
   * @default true
   */
  handleSignals?: boolean;
  /** Settings of `ctx.client` (retries, per-attempt timeout, base URL, audit hook). */
  client?: ClientOptions;
  /** Options for the KeyPool when `config` is a path or object (`waitTimeoutMs`, `notify`, …). */
  pool?: KeyPoolOptions;
  /** @default a logger writing `keybatch: …` lines to stderr */
  logger?: Logger;
  /**
   * Run the chunks on `keybatch worker` processes (any number, on any machine) through a BullMQ
   * queue on this Redis, instead of on local lanes; this process is the coordinator (input,
   * checkpoint, output). `fn` must be a task module (path or URL): workers load their own copy,
   * and one whose content differs is refused. `workers` and `concurrency` do not apply.
   * @default none (local lanes)
   */
  distributed?: DistributedOptions;
  /**
   * Makes the run content-keyed: an item's identity is `itemKey(item)` instead of its position.
   * A rerun over an input that grew, shrank, was edited or reordered runs only the items whose key
   * has no result yet, and writes the output (or `results`) in the new input's order; items with the
   * same key run once and their result fills every place. The checkpoint is then never refused for
   * a different input (only for other `resultOptions`/`args`).
   * @default none (an item is its position)
   */
  itemKey?: (item: T) => string;
  /**
   * @internal With `itemKey`: a tag per position kept for the merge (`tag`), and the output line of
   * a position made from the stored result of its key and its tag (`line`; undefined: as stored).
   */
  keyedRows?: {
    tag(item: T, position: number): string | undefined;
    line(stored: Buffer, tag: string | undefined, position: number): Buffer | undefined;
  };
  /** @internal Called with each chunk's results once they are checkpointed (runPrompts counts tokens of remote rows). */
  onResults?: (results: readonly unknown[]) => void;
}

export const PIPELINE_DEFAULTS = Object.freeze({
  workers: 4,
  chunkSize: 10,
  concurrency: 1,
  resume: true,
  progressIntervalMs: 1000,
  chunkRetries: 2,
  chunkRetryDelayMs: 500,
  handleSignals: true,
});

export type ResolvedOptions<A, T = unknown> = Readonly<
  PipelineOptions<A, T> & { [K in keyof typeof PIPELINE_DEFAULTS]: (typeof PIPELINE_DEFAULTS)[K] } & {
    resultOptions: Record<string, unknown>;
  }
>;

function describe(value: unknown): string {
  return `\`${String(value)}\` (${typeof value})`;
}

/** Upper bounds of `workers` and `concurrency`: far beyond any useful value, short of exhausting the machine. */
export const MAX_WORKERS = 64;
export const MAX_CONCURRENCY = 1024;

function integer(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw new InputError(`Expected \`${name}\` to be a whole number ${range}, got ${describe(value)}`);
  }
}

export function resolveOptions<A, T>(options: PipelineOptions<A, T> = {}): ResolvedOptions<A, T> {
  const resolved = { ...PIPELINE_DEFAULTS, resultOptions: {}, ...options };
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined)
      (resolved as Record<string, unknown>)[key] = (PIPELINE_DEFAULTS as Record<string, unknown>)[key];
  }
  integer('workers', resolved.workers, 1, MAX_WORKERS);
  integer('chunkSize', resolved.chunkSize, 1);
  integer('concurrency', resolved.concurrency, 1, MAX_CONCURRENCY);
  integer('chunkRetries', resolved.chunkRetries, 0);
  integer('progressIntervalMs', resolved.progressIntervalMs, 1);
  integer('chunkRetryDelayMs', resolved.chunkRetryDelayMs, 0);
  if (resolved.total !== undefined) integer('total', resolved.total, 0);
  if (resolved.limit !== undefined) integer('limit', resolved.limit, 1);
  if (resolved.overwrite !== undefined && typeof resolved.overwrite !== 'boolean') {
    throw new InputError(`Expected \`overwrite\` to be a boolean, got ${describe(resolved.overwrite)}`);
  }
  for (const key of ['output', 'checkpoint', 'inputFile'] as const) {
    const value = resolved[key];
    if (value !== undefined && (typeof value !== 'string' || value === '')) {
      throw new InputError(`Expected \`${key}\` to be a file path, got ${describe(value)}`);
    }
  }
  for (const key of ['signal', 'stopSignal'] as const) {
    const value: unknown = resolved[key];
    if (value !== undefined && !(value instanceof AbortSignal)) {
      throw new InputError(`Expected \`${key}\` to be an AbortSignal, got ${describe(value)}`);
    }
  }
  if (resolved.distributed !== undefined) resolved.distributed = resolveDistributed(resolved.distributed);
  if (resolved.itemKey !== undefined && typeof resolved.itemKey !== 'function') {
    throw new InputError(`Expected \`itemKey\` to be a function, got ${describe(resolved.itemKey)}`);
  }
  if (resolved.onProgress !== undefined && typeof resolved.onProgress !== 'function') {
    throw new InputError(`Expected \`onProgress\` to be a function, got ${describe(resolved.onProgress)}`);
  }
  return Object.freeze(resolved) as ResolvedOptions<A, T>;
}
