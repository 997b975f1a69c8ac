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
import { type BatchOutputLine, batchRefused, batchSuccess } from '../requests/batch-format.js';
import type { OutputFormat } from '../requests/endpoint.js';
import type { PromptJob } from '../requests/records.js';
import { errorRow, type PromptRow, successRow } from '../requests/rows.js';
import type { Structured } from '../requests/structured.js';
import type { TaskContext } from '../workers/types.js';
import { affinityClient, affinityOf } from './affinity.js';
import { EnqueuedBatches } from './enqueued.js';
import { batchReask, linesBody } from './reask.js';
import { readShardKeys, SHARD_KEYS_DIR, writeShardKeys } from './shard-keys.js';
import { type KeyedResult, ShardMemo } from './shard-memo.js';
import type { ShardEnv } from './shard-run.js';
import { type LineOutcome, planShards, type ShardItem } from './shards.js';
import {
  BATCHES_FILE,
  type BatchState,
  contentKey,
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
      if (opts.fresh) {
        await rm(join(opts.runDir, BATCHES_FILE), { force: true });
        await rm(join(opts.runDir, SHARD_KEYS_DIR), { recursive: true, force: true });
      }
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
  const queue = new EnqueuedBatches();
  const memo = new ShardMemo(opts.runDir);
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

  /** A row's identity (its `custom_id`); a job without one is named by its position. */
  const keyOfJob = (job: PromptJob): string => job.key ?? `@${job.index}`;

  const task = async (chunk: PromptJob[], ctx: TaskContext): Promise<Row[]> => {
    const st = await state();
    // A group is the chunk's rows (identities, in order), wherever they stand in the input now.
    const group = await st.group(
      chunk.map((job) => job.index),
      contentKey(chunk.map(keyOfJob)),
    );
    const groupNo = st.groups.indexOf(group);
    const byKey = new Map(chunk.map((job) => [keyOfJob(job), job]));
    const bodies = new Map(chunk.map((job) => [job.index, linesBody(job, opts)]));
    const outcomes = new Map<string, LineOutcome>();
    const env: Omit<ShardEnv, 'indexOf' | 'onUnknown'> = {
      state: st,
      logger: opts.logger,
      pollIntervalMs: opts.pollIntervalMs,
      stop: opts.stop,
      cancel: opts.cancel,
      queue,
      waited,
      scrub,
      onChange: report,
      signal: ctx.signal,
    };
    const byIndex = new Map(chunk.map((job) => [job.index, job]));
    /** The rows of a shard of this group: its keys file, else (recorded before them) its positions. */
    const rowsOf = (shard: ShardRecord, keys: readonly string[] | undefined): PromptJob[] =>
      keys
        ? keys.flatMap((key) => byKey.get(key) ?? [])
        : fromRanges(shard.indices).flatMap((index) => byIndex.get(index) ?? []);
    const item = (job: PromptJob): ShardItem => ({
      index: job.index,
      endpoint: job.endpoint,
      key: job.key,
      body: bodies.get(job.index) as Record<string, unknown>,
    });
    const run = (shard: ShardRecord) =>
      memo.run(
        shard,
        clientFor(shard),
        env,
        (keys) => {
          const [planned] = planShards(
            rowsOf(shard, keys).map(item),
            Number.MAX_SAFE_INTEGER,
            Number.MAX_SAFE_INTEGER,
          );
          return Buffer.from((planned?.lines ?? []).join(''));
        },
        (index) => {
          const job = byIndex.get(index);
          return job ? keyOfJob(job) : undefined;
        },
      );

    // Rows that another chunking of the input already submitted (reordered or edited input):
    // their batches are polled and their answers used, never submitted again.
    const held = new Map<ShardRecord, string[]>();
    for (const job of chunk) {
      for (const shard of await memo.holding(st, group, keyOfJob(job))) {
        held.set(shard, [...(held.get(shard) ?? []), keyOfJob(job)]);
      }
    }
    const found = await Promise.all([...held.keys()].map(run));
    for (const [k, keys] of [...held.values()].entries()) {
      for (const key of keys) {
        const outcome = found[k]?.get(key);
        if (outcome && outcome.kind !== 'retry') outcomes.set(key, outcome);
      }
    }
    let pending = chunk.filter((job) => !outcomes.has(keyOfJob(job)));
    // A shard too large for the enqueued token limit is split, not counted against the attempts.
    let attempts = maxAttempts;
    let splitTo = opts.shardMaxRequests;
    for (let attempt = 1; attempt <= attempts && pending.length > 0; attempt++) {
      let shards = group.shards.filter((s) => s.attempt === attempt);
      if (shards.length === 0) {
        if (opts.cancel)
          throw new AbortError('--cancel: nothing more is submitted; rerun without --cancel to go on');
        const planned = planShards(pending.map(item), splitTo, opts.shardMaxBytes);
        shards = planned.map((p, n) => ({
          id: `${groupNo}-${attempt}-${n}`,
          attempt,
          endpoint: p.endpoint,
          indices: toRanges(p.indices),
        }));
        for (const [n, shard] of shards.entries()) {
          const jobs = (planned[n]?.indices ?? []).map((index) => byIndex.get(index) as PromptJob);
          await writeShardKeys(opts.runDir, shard.id, jobs.map(keyOfJob));
          await assignAffinity(shard, ctx, bodies.get(jobs[0]?.index as number)?.['model']);
        }
        group.shards.push(...shards);
        await st.save();
      }
      const results = await Promise.all(shards.map(run)).catch((error: unknown) => {
        if (opts.stop.aborted) sayStopped();
        throw error;
      });
      const next: PromptJob[] = [];
      for (const [k, shard] of shards.entries()) {
        const result = results[k] as KeyedResult;
        for (const job of rowsOf(shard, await readShardKeys(opts.runDir, shard.id))) {
          const outcome = result.get(keyOfJob(job)) ?? {
            kind: 'retry' as const,
            status: null,
            code: shard.state === 'expired' ? 'batch_expired' : (shard.state ?? null),
            message: shard.error ?? `batch ${shard.batchId} (${shard.state}) gave no answer for this request`,
          };
          outcomes.set(keyOfJob(job), outcome);
          if (outcome.kind === 'retry') next.push(job);
        }
      }
      pending = next.sort((a, b) => a.index - b.index);
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
          outcomes.get(keyOfJob(job)) ?? {
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
