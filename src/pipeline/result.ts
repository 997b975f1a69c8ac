/** What runPipeline resolves with, and what a stopped run carries. */
import type { DistributedStatus } from '../distributed/coordinator.js';
import type { SerializedError } from '../errors.js';
import type { ConfigFile } from '../keys/config.js';
import type { KeyPool } from '../keys/key-pool.js';
import type { KeyStatus } from '../keys/types.js';
import type { TaskFunction } from '../workers/types.js';

export interface PipelineStats {
  /** Items in the input. */
  total: number;
  /** Items finished successfully in this run. */
  done: number;
  /** Items skipped because the checkpoint already had them. */
  skipped: number;
  /**
   * Items that failed in this run: chunks that failed after retries (a rerun retries them), and
   * results with an `error` field (final failures, such as a prompt refused with a 400).
   */
  failed: number;
  /** The first failed chunks' items (up to 100), by input position, with the error. */
  failures: Array<{ index: number; error: SerializedError }>;
  /** Failed items by error code. */
  errors: Record<string, number>;
  durationMs: number;
  /** Per key (redacted): state, requests, errors, tokens. */
  keys: KeyStatus[];
  /** The merged output file, when `output` was set. */
  output?: string;
  /** The run directory, when checkpointing. */
  checkpoint?: string;
  /** A distributed run: its id, its workers (count, rate, in flight, last seen), duplicates discarded. */
  distributed?: DistributedStatus;
}

export interface PipelineResult<R> {
  /** One result per input item, in input order (empty when `output` is set; failed items are holes). */
  results: R[];
  stats: PipelineStats;
}

/** Thrown when a run stops before the end (no usable key in time, aborted, interrupted); it is resumable. */
export interface StoppedRun {
  stats: PipelineStats;
}

export type PipelineConfig = string | ConfigFile | KeyPool | undefined;
export type PipelineTask<T, R, A> = TaskFunction<T, R, A> | string | URL;
