/**
 * The Batch API backend of runPrompts: a task on runPipeline whose chunk (up to
 * `shardMaxRequests` items) is sent as one or more batches, and which returns the same rows as the
 * online task, in the chunk's order, so the pipeline records them in a lane file as usual.
 * Lines that expired or failed transiently are sent again in a new shard (at most `maxAttempts`
 * submissions per line); 4xx lines become error rows as online; the last failure of a line that
 * never succeeded becomes its error row.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type OpenAI from 'openai';
import { AbortError } from '../errors.js';
import type { ClientOptions } from '../keys/client.js';
import type { KeyPool } from '../keys/key-pool.js';
import type { Logger } from '../logger.js';
import { type BatchOutputLine, batchRefused, batchSuccess } from '../prompts/batch-format.js';
import type { OutputFormat } from '../prompts/options.js';
import type { PromptJob } from '../prompts/records.js';
import { errorRow, type PromptRow, successRow } from '../prompts/rows.js';
import type { Structured } from '../prompts/structured.js';
import type { TaskContext } from '../workers/types.js';
import { affinityClient, affinityOf } from './affinity.js';
import { batchReask, linesBody } from './reask.js';
import { RunningBatches, runShard, type ShardEnv } from './shard-run.js';
import { type LineOutcome, planShards, type ShardItem } from './shards.js';
import {
  BATCHES_FILE,
  type BatchState,
  fromRanges,
  type ShardRecord,
  BatchState as State,
  toRanges,
} from './state.js';

export interface BatchBackendOptions {
  pool: KeyPool;
  logger: Logger;
  client: ClientOptions;
  /** The run directory (`<output>.keybatch`). */
  runDir: string;
  model: string | undefined;
  params: Readonly<Record<string, unknown>>;
  raw: boolean;
  format: OutputFormat;
  pollIntervalMs: number;
  shardMaxRequests: number;
  shardMaxBytes: number;
  /** Submissions of one line at most (the first and re-submissions). @default 3 */
  maxAttempts?: number;
  cancel: boolean;
  /** Start over: the recorded batches are forgotten. */
  fresh: boolean;
  /** The first stop: polling stops, batches stay on the API. */
  stop: AbortSignal;
  /** Called for every answered line (tokens, cost), and every answer to a re-ask. */
  onAnswer?: (job: PromptJob, body: Record<string, unknown>, answer: unknown) => void;
  /**
   * Structured outputs: the run's schema is in every line; an answer that does not match is
   * re-asked online through the pool (`reask.ts`). @default none
   */
  structured?: Structured;
  /** Re-asks in flight at most. @default 32 */
  reaskConcurrency?: number;
}

export interface BatchProgress {
  /** Batches created or resumed in this run. */
  batches: number;
  completed: number;
  failed: number;
  waitedMs: number;
}

type Row = PromptRow | BatchOutputLine;

export interface BatchBackend {
  /**
   * Before the run: refuses (InputError) other shard limits than those batches.json was made
   * with, since other chunks would not find their batches and their records would be sent again.
   */
  prepare(): Promise<void>;
  task: (chunk: PromptJob[], ctx: TaskContext) => Promise<Row[]>;
  progress(): BatchProgress;
}

export function batchBackend(opts: BatchBackendOptions): BatchBackend {
  const maxAttempts = opts.maxAttempts ?? 3;
  let opened: Promise<BatchState> | undefined;
  let current: BatchState | undefined;
  const state = (): Promise<BatchState> => {
    opened ??= (async () => {
      if (opts.fresh) await rm(join(opts.runDir, BATCHES_FILE), { force: true });
      const file = await State.open(opts.runDir);
      await file.checkLimits({
        shardMaxRequests: opts.shardMaxRequests,
        shardMaxBytes: opts.shardMaxBytes,
      });
      current = file;
      return current;
    })();
    return opened;
  };
  const waited = { ms: 0 };
  const running = new RunningBatches();
  const clients = new Map<string, OpenAI>();
  const scrub = (text: string) => opts.pool.scrub(text);
  let saidStop = false;
  /** Once, when a stop leaves batches on the API: how many, and how to resume or cancel them. */
  const sayStopped = () => {
    if (saidStop || !current) return;
    saidStop = true;
    const open = current.openShards().length;
    if (open === 0) return;
    opts.logger.info(
      opts.cancel
        ? `${open} batch(es) of this run are being cancelled on the API; rerun without --cancel to submit what they left unanswered`
        : `${open} batch(es) of this run keep running on the API; rerun the same command to resume polling them, or add --cancel to cancel them`,
    );
  };
  let lastReport = 0;
  /** At most every 5 s: requests completed and failed across the run's batches, and the time waited. */
  const report = () => {
    if (Date.now() - lastReport < 5000) return;
    lastReport = Date.now();
    const p = progress();
    opts.logger.info(
      `batches: ${p.batches}, ${p.completed} requests completed and ${p.failed} failed across them; waited ${Math.round(p.waitedMs / 1000)} s`,
    );
  };

  const clientFor = (shard: ShardRecord): OpenAI => {
    const affinity = shard.affinity ?? {};
    const key = JSON.stringify(affinity);
    let client = clients.get(key);
    if (!client) {
      client = affinityClient(opts.pool, affinity, opts.logger, opts.client);
      clients.set(key, client);
    }
    return client;
  };

  const reask = batchReask(opts);
  const answerRow = async (
    job: PromptJob,
    body: Record<string, unknown>,
    outcome: LineOutcome,
    ctx: TaskContext,
  ): Promise<Row> => {
    if (outcome.kind === 'answer') {
      opts.onAnswer?.(job, body, outcome.body);
      const structured = await reask(job, body, outcome, ctx);
      if (structured) return structured;
      return opts.format === 'batch'
        ? batchSuccess(job, outcome.body, outcome.requestId)
        : successRow(job, job.endpoint, outcome.body, body['model'], opts.raw);
    }
    const message = scrub(outcome.message);
    if (outcome.kind === 'final') {
      if (opts.format !== 'batch')
        return errorRow(job, { status: outcome.status, code: outcome.code, message });
      return batchRefused(job, {
        status: outcome.status,
        requestId: outcome.requestId,
        error: JSON.parse(scrub(JSON.stringify(outcome.error ?? null))),
        code: outcome.code,
        message,
      });
    }
    // Still not answered after the last attempt: an error row with the last failure.
    if (opts.format !== 'batch')
      return errorRow(job, { status: outcome.status, code: outcome.code, message });
    return batchRefused(job, {
      status: outcome.status ?? 500,
      requestId: null,
      error: { code: outcome.code, message },
      code: outcome.code ?? String(outcome.status ?? 'error'),
      message,
    });
  };

  /** A new shard's organization: the key the pool would lend now (so shards spread as the pool rotates). */
  const assignAffinity = async (shard: ShardRecord, ctx: TaskContext, model: unknown): Promise<void> => {
    if (shard.affinity) return;
    const lease = await opts.pool.acquire(
      { ...(typeof model === 'string' ? { model } : {}), tokens: 0, workerId: ctx.workerId },
      ctx.signal,
    );
    opts.pool.release(lease, { outcome: 'cancelled' });
    shard.affinity = affinityOf(lease);
  };

  const task = async (chunk: PromptJob[], ctx: TaskContext): Promise<Row[]> => {
    const st = await state();
    const group = await st.group(chunk.map((job) => job.index));
    const groupNo = st.groups.indexOf(group);
    const jobs = new Map(chunk.map((job) => [job.index, job]));
    const bodies = new Map(chunk.map((job) => [job.index, linesBody(job, opts)]));
    const outcomes = new Map<number, LineOutcome>();
    // Lines are named by row identity (custom_id); older batches of this run by `i-<index>`.
    const byKey = new Map(chunk.flatMap((job) => (job.key ? [[job.key, job.index] as const] : [])));
    const env: ShardEnv = {
      indexOf: (customId) => (typeof customId === 'string' ? byKey.get(customId) : undefined),
      state: st,
      logger: opts.logger,
      pollIntervalMs: opts.pollIntervalMs,
      stop: opts.stop,
      cancel: opts.cancel,
      running,
      waited,
      scrub,
      onChange: report,
      signal: ctx.signal,
    };
    let pending = chunk.map((job) => job.index);
    // A shard too large for the enqueued token limit is split, not counted against the attempts.
    let attempts = maxAttempts;
    let splitTo = opts.shardMaxRequests;
    for (let attempt = 1; attempt <= attempts && pending.length > 0; attempt++) {
      let shards = group.shards.filter((s) => s.attempt === attempt);
      if (shards.length === 0) {
        if (opts.cancel)
          throw new AbortError('--cancel: nothing more is submitted; rerun without --cancel to go on');
        const items: ShardItem[] = pending.map((index) => ({
          index,
          endpoint: (jobs.get(index) as PromptJob).endpoint,
          key: jobs.get(index)?.key,
          body: bodies.get(index) as Record<string, unknown>,
        }));
        const planned = planShards(items, splitTo, opts.shardMaxBytes);
        shards = planned.map((p, n) => ({
          id: `${groupNo}-${attempt}-${n}`,
          attempt,
          endpoint: p.endpoint,
          indices: toRanges(p.indices),
        }));
        for (const shard of shards)
          await assignAffinity(shard, ctx, bodies.get(fromRanges(shard.indices)[0] as number)?.['model']);
        group.shards.push(...shards);
        await st.save();
      }
      const results = await Promise.all(
        shards.map((shard) =>
          runShard(clientFor(shard), env, shard, () => {
            const items = fromRanges(shard.indices).map((index) => ({
              index,
              endpoint: (jobs.get(index) as PromptJob).endpoint,
              key: jobs.get(index)?.key,
              body: bodies.get(index) as Record<string, unknown>,
            }));
            const [planned] = planShards(items, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
            return Buffer.from((planned?.lines ?? []).join(''));
          }),
        ),
      ).catch((error: unknown) => {
        if (opts.stop.aborted) sayStopped();
        throw error;
      });
      const next: number[] = [];
      for (const [k, shard] of shards.entries()) {
        const result = results[k] as Map<number, LineOutcome>;
        for (const index of fromRanges(shard.indices)) {
          const outcome = result.get(index) ?? {
            kind: 'retry' as const,
            status: null,
            code: shard.state === 'expired' ? 'batch_expired' : (shard.state ?? null),
            message: shard.error ?? `batch ${shard.batchId} (${shard.state}) gave no answer for this request`,
          };
          outcomes.set(index, outcome);
          if (outcome.kind === 'retry') next.push(index);
        }
      }
      pending = next.sort((a, b) => a - b);
      const tooLarge = shards.filter((shard) => shard.tooLarge && fromRanges(shard.indices).length > 1);
      if (tooLarge.length > 0) {
        const smallest = Math.min(...tooLarge.map((shard) => fromRanges(shard.indices).length));
        splitTo = Math.min(splitTo, Math.ceil(smallest / 2));
        attempts += 1;
      }
      if (pending.length > 0 && attempt < attempts) {
        opts.logger.info(
          `${pending.length} request(s) of chunk ${groupNo} not answered; submitting them again (attempt ${attempt + 1} of ${attempts})`,
        );
      }
    }
    return Promise.all(
      chunk.map((job) =>
        answerRow(
          job,
          bodies.get(job.index) as Record<string, unknown>,
          outcomes.get(job.index) ?? {
            kind: 'retry',
            status: null,
            code: 'not_submitted',
            message: 'not submitted',
          },
          ctx,
        ),
      ),
    );
  };

  function progress(): BatchProgress {
    const out: BatchProgress = { batches: 0, completed: 0, failed: 0, waitedMs: waited.ms };
    for (const group of current?.groups ?? []) {
      for (const shard of group.shards) {
        if (!shard.batchId) continue;
        out.batches++;
        out.completed += shard.counts?.completed ?? 0;
        out.failed += shard.counts?.failed ?? 0;
      }
    }
    return out;
  }

  const prepare = async (): Promise<void> => {
    if (opts.fresh) return;
    const file = await State.open(opts.runDir);
    file.assertLimits({ shardMaxRequests: opts.shardMaxRequests, shardMaxBytes: opts.shardMaxBytes });
  };

  return { prepare, task, progress };
}

/**
 * The first stop of a batch run: `stopSignal`, and with `handleSignals` the first SIGINT, SIGTERM
 * or SIGHUP (the pipeline handles them too; this only tells the polls to stop waiting).
 */
export function batchStopSignal(
  stopSignal: AbortSignal | undefined,
  handleSignals: boolean,
): { signal: AbortSignal; detach: () => void } {
  const controller = new AbortController();
  const stop = () => controller.abort();
  stopSignal?.addEventListener('abort', stop, { once: true });
  if (stopSignal?.aborted) stop();
  const signals = handleSignals ? (['SIGINT', 'SIGTERM', 'SIGHUP'] as const) : [];
  for (const name of signals) process.on(name, stop);
  return {
    signal: controller.signal,
    detach: () => {
      stopSignal?.removeEventListener('abort', stop);
      for (const name of signals) process.off(name, stop);
    },
  };
}
