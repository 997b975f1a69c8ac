/**
 * The row of one line of a batch from its outcome, as the online task writes it: an answer (after
 * any re-asks of a structured output), a refusal the API gave for good, or the last failure of a
 * line still unanswered after its last attempt. Rows are online-shaped, or Batch API output lines
 * with `format: 'batch'`.
 */
import { batchRefused, batchSuccess } from '../requests/batch-format.js';
import type { PromptJob } from '../requests/records.js';
import { errorRow, successRow } from '../requests/rows.js';
import type { TaskContext } from '../workers/types.js';
import type { BatchBackendOptions, Row } from './backend-types.js';
import { batchReask } from './reask.js';
import type { LineOutcome } from './shards.js';

type Outcome<K extends LineOutcome['kind']> = Extract<LineOutcome, { kind: K }>;

/** The row of a line by its outcome; `opts.onAnswer` hears of every answer. */
export type AnswerRow = (
  job: PromptJob,
  body: Record<string, unknown>,
  outcome: LineOutcome,
  ctx: TaskContext,
) => Promise<Row>;

export function answerRows(opts: BatchBackendOptions): AnswerRow {
  const reask = batchReask(opts);
  const scrub = (text: string) => opts.pool.scrub(text);
  return async (job, body, outcome, ctx) => {
    if (outcome.kind === 'answer') {
      opts.onAnswer?.(job, body, outcome.body);
      return (await reask(job, body, outcome, ctx)) ?? answeredRow(opts, job, body, outcome);
    }
    if (outcome.kind === 'final') return refusedRow(opts, job, outcome, scrub);
    return unansweredRow(opts, job, outcome, scrub);
  };
}

/** An answer without a schema to check it against. */
function answeredRow(
  opts: BatchBackendOptions,
  job: PromptJob,
  body: Record<string, unknown>,
  outcome: Outcome<'answer'>,
): Row {
  return opts.format === 'batch'
    ? batchSuccess(job, outcome.body, outcome.requestId)
    : successRow(job, job.endpoint, outcome.body, body['model'], opts.raw);
}

/** A line the API refused for good (a 4xx): an error row, as online. */
function refusedRow(
  opts: BatchBackendOptions,
  job: PromptJob,
  outcome: Outcome<'final'>,
  scrub: (text: string) => string,
): Row {
  const message = scrub(outcome.message);
  if (opts.format !== 'batch') return errorRow(job, { status: outcome.status, code: outcome.code, message });
  return batchRefused(job, {
    status: outcome.status,
    requestId: outcome.requestId,
    error: JSON.parse(scrub(JSON.stringify(outcome.error ?? null))),
    code: outcome.code,
    message,
  });
}

/** Still not answered after the last attempt: an error row with the last failure. */
function unansweredRow(
  opts: BatchBackendOptions,
  job: PromptJob,
  outcome: Outcome<'retry'>,
  scrub: (text: string) => string,
): Row {
  const message = scrub(outcome.message);
  if (opts.format !== 'batch') return errorRow(job, { status: outcome.status, code: outcome.code, message });
  return batchRefused(job, {
    status: outcome.status ?? 500,
    requestId: null,
    error: { code: outcome.code, message },
    code: outcome.code ?? String(outcome.status ?? 'error'),
    message,
  });
}
