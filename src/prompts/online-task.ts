/**
 * The online backend's task: each prompt job sent through the pool's client, billed and counted,
 * its structured output settled (re-asked when invalid), and its row (or error row) made.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type OpenAI from 'openai';
import { FileProblem } from '../files/load.js';
import type { FileInputs } from '../files/send.js';
import type { KeyPool } from '../keys/key-pool.js';
import { type BatchOutputLine, batchRefused, batchSuccess } from '../requests/batch-format.js';
import type { PromptJob } from '../requests/records.js';
import { apiMessage, isFinalAnswer, requestBody, send, transientError } from '../requests/requests.js';
import { type ErrorRow, errorRow, type PromptRow, successRow } from '../requests/rows.js';
import { type Structured, structuredRow } from '../requests/structured.js';
import type { SchemaEndpoint } from '../schema/index.js';
import type { TaskContext } from '../workers/types.js';
import { type CacheUse, remember } from './cached-task.js';
import type { ResolvedPromptOptions } from './options.js';
import type { RunSpend } from './run-spend.js';
import type { Tally } from './tally.js';

/** The job whose request is being sent, for the audit log's `id` (attempts run inside `send`). */
export const sending = new AsyncLocalStorage<PromptJob>();

type Billed = { model?: unknown; usage?: unknown } | null;
type Row = PromptRow | ErrorRow | BatchOutputLine;

/** What the online task of one run works with. */
export interface OnlineRun {
  opts: ResolvedPromptOptions;
  pool: KeyPool;
  spend: RunSpend;
  tally: Tally;
  structured: Structured;
  files: FileInputs;
  cacheUse: CacheUse | undefined;
}

/** The `x-request-id` the SDK keeps on an answer (not enumerable). */
export const requestIdOf = (answer: unknown): string | null => {
  const id = (answer as { _request_id?: unknown } | null)?._request_id;
  return typeof id === 'string' ? id : null;
};

/** The task the pipeline runs for a chunk of prompt jobs (one job per chunk online). */
export function onlineTask(run: OnlineRun): (chunk: PromptJob[], ctx: TaskContext) => Promise<Row[]> {
  return (chunk, ctx) => Promise.all(chunk.map((job) => answerJob(run, job, ctx)));
}

/** Sends one job, bills it, settles its structured output, and makes its row. */
async function answerJob(run: OnlineRun, job: PromptJob, ctx: TaskContext): Promise<Row> {
  const { opts, spend, tally, structured } = run;
  const body = structured.body(job.endpoint, requestBody(job, opts.model, opts.params));
  const ticket = spend.reserve(job.endpoint, body);
  // What went on the wire (files attached) and through which client: a re-ask continues it.
  let sent = { client: ctx.client, body };
  let paid = false;
  try {
    const answer = await sending.run(job, () =>
      job.files
        ? run.files.send(
            job as PromptJob & { files: string[] },
            body,
            ctx,
            (client, full) => {
              sent = { client, body: full };
              return send(client, job.endpoint, full, ctx.signal);
            },
            isFinalAnswer,
          )
        : send(ctx.client, job.endpoint, body, ctx.signal),
    );
    const billed = answer as Billed;
    spend.answered(ticket, billed?.model ?? body['model'], billed?.usage);
    paid = true;
    const schema = structured.schemaFor(job.endpoint, body);
    if (schema) {
      tally.answered(billed?.usage);
      const settled = await structured.settle(
        job.endpoint as SchemaEndpoint,
        sent.body,
        answer,
        schema,
        (next) => sendMore(run, job, sent.client, next, ctx.signal),
      );
      return structuredRow(job, settled, body['model'], { raw: opts.raw, format: opts.format });
    }
    await remember(run.cacheUse, job, answer);
    if (opts.format === 'batch') {
      tally.answered(billed?.usage);
      return batchSuccess(job, answer, requestIdOf(answer));
    }
    const row = successRow(job, job.endpoint, answer, body['model'], opts.raw);
    tally.answered(row.usage);
    return row;
  } catch (error) {
    if (!paid) spend.failed(ticket);
    return failedRow(run, job, error);
  }
}

/** Sends one more request of a job (a re-ask), billed and counted like the first. */
async function sendMore(
  run: OnlineRun,
  job: PromptJob,
  client: OpenAI,
  next: Record<string, unknown>,
  signal: AbortSignal,
): Promise<unknown> {
  const ticket = run.spend.reserve(job.endpoint, next);
  try {
    const answer = (await sending.run(job, () => send(client, job.endpoint, next, signal))) as Billed;
    run.spend.answered(ticket, answer?.model ?? next['model'], answer?.usage);
    run.tally.answered(answer?.usage);
    return answer;
  } catch (error) {
    run.spend.failed(ticket);
    throw error;
  }
}

/** The row of a job whose answer is final (a file problem, a 400, …); anything else is thrown to be retried. */
function failedRow(run: OnlineRun, job: PromptJob, error: unknown): Row {
  const batch = run.opts.format === 'batch';
  if (error instanceof FileProblem) {
    const answer = { status: null, code: error.code, message: error.message };
    if (!batch) return errorRow(job, answer);
    return batchRefused(job, { ...answer, status: 400, requestId: null, error: answer });
  }
  if (!isFinalAnswer(error)) throw transientError(error);
  const answer = {
    status: error.status ?? null,
    code: error.code ?? null,
    message: run.pool.scrub(apiMessage(error)),
  };
  if (!batch) return errorRow(job, answer);
  return batchRefused(job, {
    ...answer,
    status: error.status as number,
    requestId: error.requestID ?? null,
    error: JSON.parse(run.pool.scrub(JSON.stringify(error.error ?? null))),
  });
}
