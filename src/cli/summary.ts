/** The end-of-run summary: counts, errors, tokens, time, where the output is, and a per-key table. */
import type { KeyStatus } from '../index.js';
import { formatCost, formatUsd } from '../internal.js';
import { formatCounts, formatDuration, table } from './format.js';

/** What a finished run (RunSummary) or a stopped one (the error's `stats`) tells. */
export interface SummaryInput {
  total: number;
  /** Items finished in this run. */
  done: number;
  failed: number;
  /** Items already in the checkpoint. */
  skipped: number;
  /** With a response cache: items of `done` answered from it (no request, no cost). */
  cached?: number;
  durationMs: number;
  tokens?: { prompt: number; completion: number; total: number };
  /** Failed items by error code. */
  errors: Record<string, number>;
  keys: KeyStatus[];
  output?: string;
  checkpoint?: string;
  /** USD of this run's answers (`usd: null`: a model has no price). */
  cost?: { usd: number | null; knownUsd: number; unknownModels: string[] };
  /** With --budget: the cap, what the checkpoint has spent over all runs, what is left. */
  budget?: { capUsd: number; spentUsd: number; leftUsd: number };
}

export interface SummaryContext {
  /** Set when the run stopped before the end: why, in a few words. */
  stopped?: string;
  /** The output file, when the summary does not say. */
  output: string;
  /**
   * Done, failed and pending over the whole checkpoint (`readRunStatus`, what `keybatch status`
   * says): an earlier run's failures count as failed. Without it, this run's counts are shown.
   */
  checkpoint?: { done: number; failed: number; pending?: number | undefined } | undefined;
}

function keyErrors(key: KeyStatus): string {
  const counts = key.errors as Record<string, number>;
  const total = Object.values(counts).reduce((sum, n) => sum + n, 0);
  return total === 0 ? '0' : `${total} (${formatCounts(counts)})`;
}

/** The per-key table, redacted: key, state, requests, successes, errors, cost. */
export function keyTable(keys: readonly KeyStatus[]): string[] {
  return table(
    ['key', 'state', 'requests', 'successes', 'errors', 'cost'],
    keys.map((key) => [
      key.key,
      key.state === 'ready' && key.deniedModels.length > 0
        ? `ready (denied ${key.deniedModels.join(', ')})`
        : key.state,
      String(key.requests),
      String(key.successes),
      keyErrors(key),
      key.cost ? formatUsd(key.cost.usd) : '',
    ]),
  );
}

/** The summary's lines (the first with the `keybatch: ` prefix, the rest indented). */
export function formatSummary(summary: SummaryInput, context: SummaryContext): string[] {
  const counts = context.checkpoint ?? { done: summary.done + summary.skipped, failed: summary.failed };
  const head = context.stopped
    ? `keybatch: stopped after ${formatDuration(summary.durationMs)} (${context.stopped})`
    : `keybatch: finished in ${formatDuration(summary.durationMs)}`;
  const lines = [head, `  done      ${counts.done} of ${summary.total}`];
  const { failed } = counts;
  const earlier = Math.max(0, failed - summary.failed);
  const causes = [formatCounts(summary.errors), earlier > 0 ? `${earlier} from an earlier run` : '']
    .filter(Boolean)
    .join('; ');
  lines.push(`  failed    ${failed}${failed > 0 && causes ? ` (${causes})` : ''}`);
  if (summary.cached !== undefined && summary.cached > 0)
    lines.push(`  cached    ${summary.cached} (answered from the response cache, no cost)`);
  if (summary.skipped > 0)
    lines.push(`  skipped   ${summary.skipped} (already in the checkpoint, not sent again)`);
  if (context.stopped) {
    const pending = counts.pending ?? Math.max(0, summary.total - counts.done - counts.failed);
    lines.push(`  pending   ${pending}`);
  }
  if (summary.tokens) {
    const { prompt, completion, total } = summary.tokens;
    lines.push(`  tokens    ${total} (prompt ${prompt}, completion ${completion})`);
  }
  if (summary.cost) lines.push(`  cost      ${formatCost(summary.cost)}`);
  if (summary.budget) {
    const { capUsd, spentUsd, leftUsd } = summary.budget;
    lines.push(
      `  budget    ${formatUsd(capUsd)}: ${formatUsd(spentUsd)} spent over all runs, ${formatUsd(leftUsd)} left`,
    );
  }
  lines.push(`  time      ${formatDuration(summary.durationMs)}`);
  if (context.stopped) {
    const checkpoint = summary.checkpoint ?? `${context.output}.keybatch`;
    lines.push(`  checkpoint ${checkpoint} (the output is written when the run ends)`);
  } else {
    const note = failed > 0 ? ' (failed items have an "error" field)' : '';
    lines.push(`  output    ${summary.output ?? context.output}${note}`);
  }
  if (summary.keys.length > 0) lines.push(...keyTable(summary.keys));
  return lines;
}
