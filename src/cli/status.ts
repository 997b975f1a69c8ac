/**
 * `keybatch status <output.jsonl> [--json]`: done / failed (final and retryable) / pending of a
 * run, from its checkpoint, read-only. Exit code: 0 complete, 1 complete with final failures,
 * 3 incomplete (items pending, or failures a rerun retries).
 */

import { type PoolStatus, type RunStatus, readRunStatus } from '../index.js';
import {
  type BatchStatus,
  batchLines,
  type CostSummary,
  formatCost,
  readBatchStatus,
  readCheckpointCost,
  readSharedPool,
  sharedRows,
} from '../internal.js';
import { EXIT } from './errors.js';
import { countByCode, type FailedItem, readFailures } from './failures.js';
import { formatCounts, table } from './format.js';

export interface StatusFlags {
  json?: boolean;
  /** `--redis <url>` (else `KEYBATCH_REDIS`): also the shared key pool, as every process sharing it knows it. */
  redis?: string;
  /** The config whose keys the shared pool is shown for. @default as for run */
  config?: string;
}

export interface StatusReport extends RunStatus {
  /** Failed items a rerun keeps (refused for good). */
  final: number;
  /** Failed items a rerun sends again. */
  retryable: number;
  /** Failed items by error code. */
  errors: Record<string, number>;
  /** USD of the checkpoint's answers (their `usage`, the models' prices; `usd: null`: a model has no price). */
  cost?: CostSummary;
  /** A `--batch` run: each batch's id, state and counts (from `batches.json`). */
  batches?: BatchStatus[];
  /** With `--redis`: the shared key pool (its keys' states and counters over every process). */
  sharedPool?: PoolStatus;
}

/** The exit code of a status: 3 while a rerun has work left, else 1 with final failures, else 0. */
export function statusExitCode(
  report: Pick<StatusReport, 'complete' | 'pending' | 'retryable' | 'final'>,
): number {
  if (!report.complete || (report.pending ?? 0) > 0 || report.retryable > 0) return EXIT.stopped;
  return report.final > 0 ? EXIT.failed : EXIT.ok;
}

export function statusReport(status: RunStatus, failures: readonly FailedItem[]): StatusReport {
  const final = failures.filter((item) => item.final).length;
  return { ...status, final, retryable: failures.length - final, errors: countByCode(failures) };
}

/** Prints one `name: value` line per fact, or the report as JSON (stdout). Resolves to the exit code. */
export async function statusCommand(output: string, flags: StatusFlags = {}): Promise<number> {
  const status = await readRunStatus(output);
  const report = statusReport(status, await readFailures(output));
  const batches = await readBatchStatus(status.checkpoint);
  // A Batch API run's answers cost Batch API prices.
  report.cost = await readCheckpointCost(status.checkpoint, undefined, { batch: batches !== undefined });
  if (batches) report.batches = batches;
  const redis = flags.redis ?? (process.env['KEYBATCH_REDIS'] || undefined);
  if (redis) report.sharedPool = await readSharedPool(flags.config, { url: redis });
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return statusExitCode(report);
  }
  const lines = [
    `output: ${report.output}`,
    `output written: ${report.outputWritten ? 'yes' : report.outputStale ? 'no (the file there is an earlier run’s output, older than this checkpoint)' : 'no'}`,
    `checkpoint: ${report.checkpoint}`,
    `total: ${report.total ?? 'unknown'}`,
    `done: ${report.done}`,
    `failed: ${report.failed}`,
    `final failures: ${report.final}`,
    `retryable failures: ${report.retryable}`,
    `pending: ${report.pending ?? 'unknown'}`,
    `complete: ${report.complete}`,
    `cost: ${formatCost(report.cost)}`,
  ];
  if (report.failed > 0) {
    lines.push(`errors: ${formatCounts(report.errors, 5)}`);
    lines.push(`failed items: keybatch failures ${output}`);
  }
  if (batches) lines.push(...batchLines(batches));
  if (report.sharedPool) {
    const { title, header, rows } = sharedRows(report.sharedPool);
    lines.push(title, ...table(header, rows));
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return statusExitCode(report);
}
