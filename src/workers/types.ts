import type OpenAI from 'openai';

/** What a task gets besides its chunk. */
export interface TaskContext<A = unknown> {
  /** The lane running this chunk (0-based); its key rotation starts at `key_index + workerId`. */
  workerId: number;
  /** Which chunk of this run this is (0-based, in dispatch order). */
  chunkIndex: number;
  /** An `openai` client over the key pool: every request leases a key. */
  client: OpenAI;
  /** Aborted when the run is cancelled; pass it to requests (`{ signal }`). */
  signal: AbortSignal;
  /** `options.args` of the run, as given (structured-cloned into worker threads). */
  args: A;
}

/** The user's function: one result per input item, in the same order. */
export type TaskFunction<T = unknown, R = unknown, A = unknown> = (
  chunk: T[],
  ctx: TaskContext<A>,
) => R[] | Promise<R[]>;
