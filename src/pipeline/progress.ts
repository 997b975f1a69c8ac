/** Progress of a run: counts, rate over a sliding window, ETA, tokens and key states. */
import type { WorkerStatus } from '../distributed/worker-watch.js';
import type { KeyState, PoolStatus } from '../keys/types.js';

/** Keys by state. */
export type KeyStateCounts = Record<KeyState, number>;

/**
 * What a run has done so far: the counts the progress display shows, and the dashboard's summary
 * serves (`src/ui/types.ts`).
 */
export interface ProgressCounts {
  /** Items finished in this run. */
  done: number;
  /** Items that failed in this run (recorded with their error; a rerun retries them). */
  failed: number;
  /** Items skipped because the checkpoint already had them. */
  skipped: number;
  /** Items in chunks being run now. */
  inFlight: number;
  /** Items per second over the last few seconds. */
  rate: number;
  /** Estimated milliseconds left, when the total is known and the rate is not zero. */
  etaMs: number | undefined;
  /** Tokens used, summed over keys (as the API reported them). */
  tokens: number;
  /** No key is usable: the run waits for a config edit. */
  blocked: boolean;
  elapsedMs: number;
}

export interface Progress extends ProgressCounts {
  /** Items in the input, once known (at once for arrays and files). */
  total: number | undefined;
  /** runPrompts: USD spent so far by this run's answers (null: a model has no price). */
  spentUsd?: number | null;
  /** How many keys are in each state. */
  keys: KeyStateCounts & {
    /** runPrompts: keys that would be ready but were refused the run's model (not counted as ready). */
    denied?: number;
  };
  /** A distributed run: its workers (count, rate, in flight, last seen). */
  workers?: WorkerStatus[];
}

const WINDOW_MS = 10_000;

export class ProgressMeter {
  private readonly started = Date.now();
  private readonly samples: Array<{ at: number; count: number }> = [{ at: this.started, count: 0 }];

  /** A snapshot; `finished` counts done + failed so far. */
  snapshot(
    counts: { total: number | undefined; done: number; failed: number; skipped: number; inFlight: number },
    pool: PoolStatus,
    workers?: WorkerStatus[],
  ): Progress {
    const now = Date.now();
    const finished = counts.done + counts.failed;
    this.samples.push({ at: now, count: finished });
    while (this.samples.length > 2 && this.samples[0]!.at < now - WINDOW_MS) this.samples.shift();
    const first = this.samples[0]!;
    const span = now - first.at;
    const rate = span > 0 ? ((finished - first.count) * 1000) / span : 0;
    const left = counts.total === undefined ? undefined : counts.total - counts.skipped - finished;
    const keys: KeyStateCounts = { ready: 0, cooling: 0, exhausted: 0, invalid: 0 };
    let tokens = 0;
    for (const key of pool.keys) {
      keys[key.state] += 1;
      tokens += key.tokens;
    }
    return {
      ...counts,
      rate,
      etaMs: left !== undefined && rate > 0 ? Math.round((left / rate) * 1000) : undefined,
      tokens,
      keys,
      blocked: pool.blocked,
      elapsedMs: now - this.started,
      ...(workers ? { workers } : {}),
    };
  }
}
