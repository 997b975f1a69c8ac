/**
 * runPrompts: single-round prompt batches as a task on runPipeline (one prompt per chunk). The
 * task sends each record through the pool-aware client and returns its output row: the answer, or
 * `error` for an answer that can never succeed (400/404/422). Transient failures are thrown, so
 * the pipeline records the item as failed (with the same row shape) and a rerun retries it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type OpenAI from 'openai';
import { batchBackend, batchStopSignal } from '../batch/backend.js';
import { MAX_SHARD_BYTES, MAX_SHARD_REQUESTS } from '../batch/shards.js';
import { ResponseCache } from '../cache/index.js';
import type { DistributedStatus } from '../distributed/coordinator.js';
import { KeybatchError, type SerializedError } from '../errors.js';
import { staleItems } from '../files/identity.js';
import { FileProblem } from '../files/load.js';
import { writeAnswers } from '../files/mirror.js';
import { FileInputs } from '../files/send.js';
import type { ClientOptions } from '../keys/client.js';
import { KeyPool } from '../keys/key-pool.js';
import type { AttemptInfo } from '../keys/pool-fetch.js';
import type { KeyStatus } from '../keys/types.js';
import { consoleLogger } from '../logger.js';
import type { PipelineInput } from '../pipeline/input.js';
import type { PipelineOptions } from '../pipeline/options.js';
import { type PipelineConfig, type PipelineStats, runPipeline } from '../pipeline/pipeline.js';
import type { Progress } from '../pipeline/progress.js';
import { type BatchOutputLine, batchFailure, batchRefused, batchSuccess } from '../requests/batch-format.js';
import type { PromptJob } from '../requests/records.js';
import { apiMessage, isFinalAnswer, requestBody, send, transientError } from '../requests/requests.js';
import {
  type ErrorRow,
  errorRow,
  type PromptRow,
  successRow,
  type TokenCounts,
  usageTokens,
} from '../requests/rows.js';
import { structuredRow } from '../requests/structured.js';
import type { SchemaEndpoint } from '../schema/index.js';
import type { CostSummary } from '../tokens/cost.js';
import type { TaskContext } from '../workers/types.js';
import { type AuditLog, openAuditLog } from './audit-log.js';
import { type CacheUse, cachedTask, remember } from './cached-task.js';
import { ownFiles, readGuard, writeProtected } from './file-access.js';
import { warnFreshStart } from './fresh-start.js';
import { type PromptInput, preparePrompts } from './input.js';
import { type PromptOptions, type ResolvedPromptOptions, resolvePromptOptions } from './options.js';
import { ProgressHistory } from './progress-history.js';
import { excludeDenied } from './progress-keys.js';
import { retryFailedItems } from './retry-failed.js';
import { poolNamespace, rowLine, rowTag, withIdentities } from './row-keys.js';
import { openRunSpend, type RunSpend } from './run-spend.js';
import { openStructured } from './structured-run.js';

export interface RunSummary {
  /** Records in the input. */
  total: number;
  /** Records answered in this run. */
  done: number;
  /** Records that failed in this run: final `error` rows (400/404/422) and transient failures (a rerun retries those). */
  failed: number;
  /** Records skipped because the checkpoint already had them. */
  skipped: number;
  /** With `cache`: records answered from the response cache in this run (counted in `done`; they cost nothing). */
  cached?: number;
  durationMs: number;
  /** Tokens of this run's answers, from their `usage`. */
  tokens: TokenCounts;
  /** Failed records by error code (or HTTP status, or error name). */
  errors: Record<string, number>;
  /** Per key (redacted): state, requests, errors, tokens. */
  keys: KeyStatus[];
  /** The output file. */
  output: string;
  /** The run directory (`<output>.keybatch`). */
  checkpoint: string;
  /** USD of this run's answers, from their `usage` and the models' prices (`usd: null`: a model has no price). */
  cost: CostSummary;
  /** With `budgetUsd`: the cap, what the checkpoint has spent over all runs, and what is left. */
  budget?: { capUsd: number; spentUsd: number; leftUsd: number };
  /** A distributed run: its id, workers (count, rate, in flight, last seen) and duplicates discarded. */
  distributed?: DistributedStatus;
}

/** Set on the error runPrompts rejects with when a run stops before the end (resumable). */
export interface StoppedPromptRun {
  summary: RunSummary;
  stats: PipelineStats;
}

/** What the task counts as rows complete (this run only). */
class Tally {
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

/** The line of an item the pipeline recorded as failed (after the client's retries). */
function failureLine(format: ResolvedPromptOptions['format']) {
  return (job: PromptJob, error: SerializedError): ErrorRow | BatchOutputLine =>
    format === 'batch'
      ? batchFailure(job, error)
      : errorRow(job, { status: error.status ?? null, code: error.code ?? null, message: error.message });
}

/** The model and usage of a row a worker sent back (rows format, or a Batch API output line). */
function remoteUsage(row: unknown): { model: unknown; usage: unknown } {
  const r = row as {
    model?: unknown;
    usage?: unknown;
    response?: { body?: { model?: unknown; usage?: unknown } };
  };
  if (r?.response?.body) return { model: r.response.body.model, usage: r.response.body.usage };
  return { model: r?.model, usage: r?.usage };
}

const formatCodes = (codes: Record<string, number>) =>
  Object.entries(codes)
    .map(([code, n]) => `${code} ${n}`)
    .join(', ');

type Billed = { model?: unknown; usage?: unknown } | null;

/** The job whose request is being sent, for the audit log's `id` (attempts run inside `send`). */
const sending = new AsyncLocalStorage<PromptJob>();

function clientOptions(opts: ResolvedPromptOptions, audit: AuditLog | undefined): ClientOptions {
  const own = opts.client?.onAttempt;
  if (!audit) return { ...opts.client };
  return {
    ...opts.client,
    onAttempt: (info: AttemptInfo) => {
      audit.record(info, sending.getStore()?.id);
      own?.(info);
    },
  };
}

/** The `x-request-id` the SDK keeps on an answer (not enumerable). */
const requestIdOf = (answer: unknown): string | null => {
  const id = (answer as { _request_id?: unknown } | null)?._request_id;
  return typeof id === 'string' ? id : null;
};

/**
 * Sends every prompt record once and writes one output line per record, in input order, to
 * `options.output`, checkpointed in `<output>.keybatch` so a rerun resumes where it stopped.
 * Rejects with `InputError` (a bad option or record, before anything is sent),
 * `CheckpointMismatchError` (the checkpoint was made with other input, model, system, endpoint or
 * params), or — when the run stops early — `NoUsableKeyError` / `AbortError` carrying `summary`.
 */
export async function runPrompts(
  config: PipelineConfig,
  prompts: PipelineInput<PromptInput>,
  options: PromptOptions,
): Promise<RunSummary> {
  const started = Date.now();
  const opts = resolvePromptOptions(options);
  const logger = opts.logger ?? consoleLogger();
  const structured = await openStructured(opts, logger);
  const input = await preparePrompts(prompts, {
    endpoint: opts.endpoint,
    system: opts.system,
    hasModel: opts.model !== undefined,
    params: opts.params,
    ...(opts.backend === 'batch'
      ? { noFiles: 'is not supported with the batch backend yet' }
      : opts.distributed
        ? { noFiles: 'cannot run distributed yet (the files are on the coordinator)' }
        : {}),
  });
  const inputFile = typeof prompts === 'string' ? prompts : undefined;
  if (!opts.resume) await warnFreshStart(opts.output, logger);
  const runDir = `${opts.output}.keybatch`;
  const ownPool = !(config instanceof KeyPool);
  // A distributed run's pool is the one its workers share through Redis (their counters show here).
  const shared = opts.distributed ? { shared: { url: opts.distributed.redis } } : {};
  const pool =
    config instanceof KeyPool ? config : await KeyPool.open(config, { logger, ...shared, ...opts.pool });
  // config.json `prices`: of the object given, else of the file the pool was read from.
  const spend = await openRunSpend(
    typeof config === 'object' && !(config instanceof KeyPool) ? config : pool,
    {
      budgetUsd: opts.budgetUsd,
      model: opts.model ?? opts.params['model'],
      checkpoint: `${opts.output}.keybatch`,
      resume: opts.resume,
      batch: opts.backend === 'batch',
      warn: (line) => logger.warn(line),
    },
  );
  const tally = new Tally(spend);
  let audit: AuditLog | undefined;
  let stopBatches: (() => void) | undefined;
  let cacheUse: CacheUse | undefined;
  try {
    audit = opts.logDir ? await openAuditLog(opts.logDir, (text) => pool.scrub(text)) : undefined;
    if (audit) logger.info(`audit log: ${audit.path}`);
    const own = ownFiles(opts, pool);
    const guard = readGuard(opts, own, inputFile);
    const files = await FileInputs.open({
      guard,
      runDir,
      upload: opts.upload === true,
      pool,
      logger,
      client: clientOptions(opts, audit),
    });
    if (opts.resume && input.fileItems.length > 0) {
      // Their files' content is in their identity, so they are sent again; say which (and why).
      const stale = await staleItems(runDir, input.fileItems, guard);
      const names = stale.flatMap((item) => item.changed);
      if (stale.length > 0)
        logger.info(
          `${stale.length} record(s) whose files changed since they were answered are sent again: ${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''}`,
        );
    }
    // Rows are known by their request: a changed input sends only what has no answer (src/identity).
    const data = await withIdentities(input.data, {
      namespace: poolNamespace(pool),
      model: opts.model,
      params: opts.params,
      guard,
      shape: (endpoint, body) => structured.body(endpoint, body),
    });
    if (opts.cache) {
      const cache = await ResponseCache.open(opts.cache);
      tally.cached = 0;
      cacheUse = {
        cache,
        format: opts.format,
        raw: opts.raw,
        model: opts.model,
        params: opts.params,
        logger,
      };
    }

    const batch = opts.format === 'batch';
    /** Sends one more request of a job (a re-ask), billed and counted like the first. */
    const sendMore = async (
      job: PromptJob,
      client: OpenAI,
      next: Record<string, unknown>,
      signal: AbortSignal,
    ) => {
      const ticket = spend.reserve(job.endpoint, next);
      try {
        const answer = (await sending.run(job, () => send(client, job.endpoint, next, signal))) as Billed;
        spend.answered(ticket, answer?.model ?? next['model'], answer?.usage);
        tally.answered(answer?.usage);
        return answer;
      } catch (error) {
        spend.failed(ticket);
        throw error;
      }
    };
    const task = (chunk: PromptJob[], ctx: TaskContext): Promise<Array<PromptRow | BatchOutputLine>> =>
      Promise.all(
        chunk.map(async (job) => {
          const body = structured.body(job.endpoint, requestBody(job, opts.model, opts.params));
          const ticket = spend.reserve(job.endpoint, body);
          // What went on the wire (files attached) and through which client: a re-ask continues it.
          let sent = { client: ctx.client, body };
          let paid = false;
          try {
            const answer = await sending.run(job, () =>
              job.files
                ? files.send(
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
                (next) => sendMore(job, sent.client, next, ctx.signal),
              );
              return structuredRow(job, settled, body['model'], { raw: opts.raw, format: opts.format });
            }
            await remember(cacheUse, job, answer);
            if (batch) {
              tally.answered((answer as { usage?: unknown } | null)?.usage);
              return batchSuccess(job, answer, requestIdOf(answer));
            }
            const row = successRow(job, job.endpoint, answer, body['model'], opts.raw);
            tally.answered(row.usage);
            return row;
          } catch (error) {
            if (!paid) spend.failed(ticket);
            if (error instanceof FileProblem) {
              const answer = { status: null, code: error.code, message: error.message };
              if (!batch) return errorRow(job, answer);
              return batchRefused(job, { ...answer, status: 400, requestId: null, error: answer });
            }
            if (!isFinalAnswer(error)) throw transientError(error);
            const answer = {
              status: error.status ?? null,
              code: error.code ?? null,
              message: pool.scrub(apiMessage(error)),
            };
            if (!batch) return errorRow(job, answer);
            return batchRefused(job, {
              ...answer,
              status: error.status as number,
              requestId: error.requestID ?? null,
              error: JSON.parse(pool.scrub(JSON.stringify(error.error ?? null))),
            });
          }
        }),
      );

    // backend 'batch': the same rows through the Batch API, a chunk per shard (src/batch).
    const batchStop =
      opts.backend === 'batch' ? batchStopSignal(opts.stopSignal, opts.handleSignals) : undefined;
    stopBatches = batchStop?.detach;
    const batchRun = batchStop
      ? batchBackend({
          pool,
          logger,
          client: clientOptions(opts, audit),
          runDir: `${opts.output}.keybatch`,
          model: opts.model,
          params: opts.params,
          raw: opts.raw,
          format: opts.format,
          pollIntervalMs: opts.pollIntervalMs ?? 30_000,
          shardMaxRequests: opts.shardMaxRequests ?? MAX_SHARD_REQUESTS,
          shardMaxBytes: opts.shardMaxBytes ?? MAX_SHARD_BYTES,
          cancel: opts.cancel === true,
          fresh: !opts.resume,
          stop: batchStop.signal,
          structured,
          reaskConcurrency: opts.workers * opts.concurrency,
          onAnswer: (job, body, answer) => {
            void remember(cacheUse, job, answer);
            const billed = answer as { model?: unknown; usage?: unknown } | null;
            spend.answered(undefined, billed?.model ?? body['model'], billed?.usage);
            tally.answered(billed?.usage);
          },
        })
      : undefined;
    await batchRun?.prepare();
    const pipelineOptions: PipelineOptions<unknown, PromptJob> = {
      output: opts.output,
      workers: batchRun ? 1 : opts.workers,
      concurrency: opts.concurrency,
      chunkSize: batchRun ? (opts.shardMaxRequests ?? MAX_SHARD_REQUESTS) : 1,
      chunkRetries: 0,
      // One request per item: on a first stop, nothing waiting for a key or a slot is sent.
      drainStopsSending: true,
      resume: opts.resume,
      handleSignals: opts.handleSignals,
      progressIntervalMs: opts.progressIntervalMs,
      logger,
      failureOutput: failureLine(opts.format),
      // The request (model, system, endpoint, params, files) is in each row's identity; what
      // shapes the stored rows is not, so a checkpoint made with another shape is refused.
      resultOptions: { ...(opts.raw ? { raw: true } : {}), ...(batch ? { format: 'batch' } : {}) },
      itemKey: (job) => job.key as string,
      keyedRows: { tag: rowTag, line: rowLine(opts.format) },
      client: clientOptions(opts, audit),
    };
    if (opts.distributed) {
      // Workers run the built-in prompt task; the rows' usage is counted here as they come back.
      const { model, params, raw, format } = opts;
      const schema = structured.schema
        ? { name: structured.schema.name, json: { ...structured.schema.json } }
        : undefined;
      const settings = {
        model,
        params: { ...params },
        raw,
        format,
        ...(schema ? { schema, reask: structured.reask } : {}),
      };
      pipelineOptions.distributed = { ...opts.distributed, task: { kind: 'prompts', settings } };
      pipelineOptions.onResults = (rows) => {
        for (const row of rows) {
          const usage = remoteUsage(row);
          spend.answered(undefined, usage.model, usage.usage);
          tally.answered(usage.usage);
        }
      };
    }
    if (opts.signal) pipelineOptions.signal = opts.signal;
    if (opts.stopSignal) pipelineOptions.stopSignal = opts.stopSignal;
    if (opts.overwrite) pipelineOptions.overwrite = true;
    // The records are parsed here, so the pipeline gets them, not the path: name the input file.
    if (typeof prompts === 'string') pipelineOptions.inputFile = prompts;
    const { onProgress } = opts;
    const { model } = opts;
    // "ready" counts only keys that can serve the run's model.
    const keysFor = (p: Progress): Progress =>
      model === undefined ? p : excludeDenied(p, pool.status().keys, model);
    const history = new ProgressHistory(runDir, started);
    pipelineOptions.onProgress = (p) => {
      history.record(p.done, p.failed);
      onProgress?.({ ...keysFor(p), spentUsd: spend.cost.usd });
    };
    if (input.total !== undefined) pipelineOptions.total = input.total;
    if (opts.limit !== undefined) pipelineOptions.limit = opts.limit;
    if (opts.retryFailed && opts.resume) {
      const { retried, codes } = await retryFailedItems(runDir, pipelineOptions.resultOptions ?? {});
      if (retried > 0)
        logger.info(`--retry-failed: ${retried} failed record(s) sent again (${formatCodes(codes)})`);
    }

    try {
      const sender = batchRun ? batchRun.task : task;
      const { stats } = await runPipeline<PromptJob, PromptRow | BatchOutputLine>(
        pool,
        data,
        cacheUse
          ? cachedTask(sender, cacheUse, () => {
              tally.cached = (tally.cached ?? 0) + 1;
            })
          : sender,
        pipelineOptions,
      ).finally(() => history.finish());
      if (cacheUse) logger.debug(`cache ${cacheUse.cache.path}: ${tally.cached} answered from it`);
      if (files.uploaded > 0)
        logger.info(`uploads: ${files.uploaded} file(s) uploaded (${runDir}/uploads.json)`);
      if (opts.writeTo !== undefined) {
        const protect = writeProtected(own, inputFile, input.fileItems, guard);
        const mirrored = await writeAnswers(opts.output, input.fileItems, opts.writeTo, logger, protect);
        logger.info(`--write-to: ${mirrored.written} answer(s) written under ${opts.writeTo}`);
      }
      return tally.summary(stats, started, opts.output);
    } catch (error) {
      const stats = (error as Partial<StoppedPromptRun> | undefined)?.stats;
      if (error instanceof KeybatchError && stats) {
        Object.assign(error, { summary: tally.summary(stats, started, opts.output) });
      }
      throw error;
    }
  } finally {
    stopBatches?.();
    await cacheUse?.cache.close();
    await audit
      ?.close()
      .catch((error: Error) => logger.warn(`audit log ${audit?.path}: ${pool.scrub(error.message)}`));
    if (ownPool) await pool.close();
  }
}
