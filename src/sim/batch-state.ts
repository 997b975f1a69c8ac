/**
 * Where a simulated batch is at a given time, as a pure function of its record and the clock:
 * `validating` → `in_progress` (lines complete one after another) → `finalizing` → `completed`;
 * `failed` after validation; `expired` at the end of the window when lines never complete;
 * `cancelling` → `cancelled` after a cancel.
 */
import type { BatchError } from './batch-lines.js';

export type BatchStatus =
  | 'validating'
  | 'failed'
  | 'in_progress'
  | 'finalizing'
  | 'completed'
  | 'expired'
  | 'cancelling'
  | 'cancelled';

/** One request line's answer, decided when the batch is created. */
export interface LineOutcome {
  readonly customId: string;
  /** `batch_req_…` */
  readonly id: string;
  readonly requestId: string;
  readonly status: number;
  readonly body: unknown;
  /** The prompt-token estimate (what the enqueued-token cap counts). */
  readonly tokens: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  /** Never completes within the window. */
  readonly expires: boolean;
}

export interface BatchTiming {
  readonly validateMs: number;
  readonly processMs: number;
  readonly finalizeMs: number;
  readonly dayMs: number;
}

export interface BatchRecord {
  readonly id: string;
  readonly createdMs: number;
  readonly timing: BatchTiming;
  /** Validation errors (the batch fails), or `null`. */
  readonly errors: readonly BatchError[] | null;
  /** In processing order (shuffled against the input). */
  readonly lines: readonly LineOutcome[];
  cancelAtMs: number | null;
}

export interface BatchState {
  status: BatchStatus;
  /** Milliseconds of each transition that happened by `now`. */
  times: Partial<
    Record<
      'in_progress' | 'finalizing' | 'completed' | 'failed' | 'expired' | 'cancelling' | 'cancelled',
      number
    >
  >;
  /** Lines completed by `now` (or by the end: the expiry or the cancel), in processing order. */
  done: LineOutcome[];
  /** Lines that never completed, once the batch expired. */
  expired: LineOutcome[];
  /** Whether the batch is over (its files are final). */
  final: boolean;
}

export const OPEN_STATUSES: ReadonlySet<BatchStatus> = new Set([
  'validating',
  'in_progress',
  'finalizing',
  'cancelling',
]);

/** The time line `index` (of `count`) completes: evenly over the processing time. */
function lineDoneAt(start: number, processMs: number, index: number, count: number): number {
  return start + ((index + 1) * processMs) / count;
}

export function batchStateAt(batch: BatchRecord, now: number): BatchState {
  const { validateMs, processMs, finalizeMs, dayMs } = batch.timing;
  const validated = batch.createdMs + validateMs;
  const deadline = batch.createdMs + dayMs;
  const cancel = batch.cancelAtMs;
  const times: BatchState['times'] = {};
  const state = (status: BatchStatus, done: LineOutcome[] = [], expired: LineOutcome[] = []): BatchState => ({
    status,
    times,
    done,
    expired,
    final: !OPEN_STATUSES.has(status),
  });
  const cancelled = (cutoff: number, done: LineOutcome[]): BatchState => {
    times.cancelling = cutoff;
    if (now < cutoff + finalizeMs) return state('cancelling', done);
    times.cancelled = cutoff + finalizeMs;
    return state('cancelled', done);
  };
  if (cancel !== null && cancel < validated) return cancelled(cancel, []);
  if (now < validated) return state('validating');
  if (batch.errors) {
    times.failed = validated;
    return state('failed');
  }
  times.in_progress = validated;
  const count = batch.lines.length;
  const doneBy = (t: number) =>
    batch.lines.filter((line, i) => !line.expires && lineDoneAt(validated, processMs, i, count) <= t);
  const lastDone = lineDoneAt(validated, processMs, count - 1, count);
  const unfinished = batch.lines.some((line) => line.expires) || lastDone > deadline;
  if (cancel !== null && (unfinished || cancel < lastDone + finalizeMs)) {
    return cancelled(cancel, doneBy(Math.min(cancel, deadline)));
  }
  if (unfinished) {
    if (now < deadline) return state('in_progress', doneBy(now));
    times.expired = deadline;
    const done = doneBy(deadline);
    return state(
      'expired',
      done,
      batch.lines.filter((line) => !done.includes(line)),
    );
  }
  if (now < lastDone) return state('in_progress', doneBy(now));
  times.finalizing = lastDone;
  if (now < lastDone + finalizeMs) return state('finalizing', [...batch.lines]);
  times.completed = lastDone + finalizeMs;
  return state('completed', [...batch.lines]);
}
