/** The options, progress and interface of the Batch API backend (`backend.ts`). */
import type { ClientOptions } from '../keys/client.js';
import type { KeyPool } from '../keys/key-pool.js';
import type { Logger } from '../logger.js';
import type { BatchOutputLine } from '../requests/batch-format.js';
import type { OutputFormat } from '../requests/endpoint.js';
import type { PromptJob } from '../requests/records.js';
import type { PromptRow } from '../requests/rows.js';
import type { Structured } from '../requests/structured.js';
import type { TaskContext } from '../workers/types.js';

export interface BatchBackendOptions {
  pool: KeyPool;
  logger: Logger;
  client: ClientOptions;
  /** The run directory (`<output>.keybatch`). */
  runDir: string;
  model: string | undefined;
  params: Readonly<Record<string, unknown>>;
  raw: boolean;
  format: OutputFormat;
  pollIntervalMs: number;
  shardMaxRequests: number;
  shardMaxBytes: number;
  /** Submissions of one line at most (the first and re-submissions). @default 3 */
  maxAttempts?: number;
  cancel: boolean;
  /** Start over: the recorded batches are forgotten. */
  fresh: boolean;
  /** The first stop: polling stops, batches stay on the API. */
  stop: AbortSignal;
  /** Called for every answered line (tokens, cost), and every answer to a re-ask. */
  onAnswer?: (job: PromptJob, body: Record<string, unknown>, answer: unknown) => void;
  /**
   * Structured outputs: the run's schema is in every line; an answer that does not match is
   * re-asked online through the pool (`reask.ts`). @default none
   */
  structured?: Structured;
  /** Re-asks in flight at most. @default 32 */
  reaskConcurrency?: number;
}

export interface BatchProgress {
  /** Batches created or resumed in this run. */
  batches: number;
  completed: number;
  failed: number;
  waitedMs: number;
}

/** A row of the output: online-shaped, or a Batch API output line (`format: 'batch'`). */
export type Row = PromptRow | BatchOutputLine;

export interface BatchBackend {
  /**
   * Before the run: refuses (InputError) other shard limits than those batches.json was made
   * with, since other chunks would not find their batches and their records would be sent again.
   */
  prepare(): Promise<void>;
  task: (chunk: PromptJob[], ctx: TaskContext) => Promise<Row[]>;
  progress(): BatchProgress;
}
