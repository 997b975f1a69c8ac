/** What a prompt run counts as its rows complete (this run only): tokens, cache hits, and its summary. */
import type { PipelineStats } from '../pipeline/pipeline.js';
import { type TokenCounts, usageTokens } from '../requests/rows.js';
import type { RunSummary } from './run-prompts.js';
import type { RunSpend } from './run-spend.js';

export class Tally {
  readonly tokens: TokenCounts = { prompt: 0, completion: 0, total: 0 };
  /** Rows answered from the cache; undefined without one. */
  cached: number | undefined;

  constructor(readonly spend: RunSpend) {}

  answered(usage: unknown): void {
    const counts = usageTokens(usage);
    this.tokens.prompt += counts.prompt;
    this.tokens.completion += counts.completion;
    this.tokens.total += counts.total;
  }

  summary(stats: PipelineStats, started: number, output: string): RunSummary {
    return {
      total: stats.total,
      done: stats.done,
      failed: stats.failed,
      skipped: stats.skipped,
      ...(this.cached === undefined ? {} : { cached: this.cached }),
      durationMs: Date.now() - started,
      tokens: { ...this.tokens },
      errors: { ...stats.errors },
      keys: stats.keys,
      output,
      checkpoint: stats.checkpoint ?? `${output}.keybatch`,
      cost: this.spend.cost,
      ...(this.spend.budget ? { budget: this.spend.budget } : {}),
      ...(stats.distributed ? { distributed: stats.distributed } : {}),
    };
  }
}
