/**
 * Structured outputs on the Batch backend. Each line carries the run's schema; the downloaded
 * answers are checked as online answers are. An answer that does not match is re-asked **online,
 * through the pool**, not in a follow-up batch: a re-ask is a small share of the rows (each one
 * a conversation already answered), a follow-up batch would add up to 24 h per round (`reask`
 * rounds: days) and a second state machine to resume, while online re-asks finish in seconds at
 * full price for those few requests only. They go at most `reaskConcurrency` at a time; their
 * answers are billed and counted through `onAnswer` like the batch's.
 */
import pLimit from 'p-limit';
import type { BatchOutputLine } from '../requests/batch-format.js';
import type { PromptJob } from '../requests/records.js';
import { apiMessage, isFinalAnswer, requestBody, send } from '../requests/requests.js';
import { errorRow, type PromptRow } from '../requests/rows.js';
import { structuredRow } from '../requests/structured.js';
import type { SchemaEndpoint } from '../schema/index.js';
import type { Settled } from '../schema/settle.js';
import type { TaskContext } from '../workers/types.js';
import type { BatchBackendOptions } from './backend-types.js';
import type { LineOutcome } from './shards.js';

/** Re-asks in flight at most, by default: a few lanes' worth, so a big shard does not flood the pool. */
const DEFAULT_REASK_CONCURRENCY = 32;

/** A line's request body: the run's model and params, and the run's schema (a record's own wins). */
export function linesBody(job: PromptJob, opts: BatchBackendOptions): Record<string, unknown> {
  const body = requestBody(job, opts.model, opts.params);
  return opts.structured ? opts.structured.body(job.endpoint, body) : body;
}

type Answer = Extract<LineOutcome, { kind: 'answer' }>;

/**
 * The row of an answered line when a schema applies to it (after the re-asks), else undefined
 * (the plain row is the caller's).
 */
export function batchReask(opts: BatchBackendOptions) {
  const limit = pLimit(opts.reaskConcurrency ?? DEFAULT_REASK_CONCURRENCY);
  return async (
    job: PromptJob,
    body: Record<string, unknown>,
    outcome: Answer,
    ctx: TaskContext,
  ): Promise<PromptRow | BatchOutputLine | undefined> => {
    const structured = opts.structured;
    const schema = structured?.schemaFor(job.endpoint, body);
    if (!structured || !schema) return undefined;
    const ask = (next: Record<string, unknown>) =>
      limit(async () => {
        const answer = await send(ctx.client, job.endpoint, next, ctx.signal);
        opts.onAnswer?.(job, next, answer);
        return answer;
      });
    let settled: Settled;
    try {
      settled = await structured.settle(job.endpoint as SchemaEndpoint, body, outcome.body, schema, ask);
    } catch (error) {
      // A re-ask the API refuses for good fails its row alone, as online; anything else, the chunk.
      if (!isFinalAnswer(error)) throw error;
      const message = opts.pool.scrub(apiMessage(error));
      return errorRow(job, { status: error.status ?? null, code: error.code ?? null, message });
    }
    const settings = { raw: opts.raw, format: opts.format };
    // The line's own request id, unless a re-ask answered it.
    return structuredRow(
      job,
      settled,
      body['model'],
      settled.reasks === 0 ? { ...settings, requestId: outcome.requestId } : settings,
    );
  };
}
