/**
 * The Batch API backend of runPrompts: a task on runPipeline whose chunk (up to
 * `shardMaxRequests` items) is sent as one or more batches, and which returns the same rows as the
 * online task, in the chunk's order, so the pipeline records them in a lane file as usual.
 * Lines that expired or failed transiently are sent again in a new shard (at most `maxAttempts`
 * submissions per line); 4xx lines become error rows as online; the last failure of a line that
 * never succeeded becomes its error row. One chunk's task is `chunk-run.ts`; what the chunks
 * share (the run's state, queue, clients, progress) is made here.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type OpenAI from 'openai';
import { affinityClient, affinityOf } from './affinity.js';
import { answerRows } from './answer-row.js';
import type { BatchBackend, BatchBackendOptions, BatchProgress } from './backend-types.js';
import { type BatchRunShared, runChunk } from './chunk-run.js';
import { EnqueuedBatches } from './enqueued.js';
import { SHARD_KEYS_DIR } from './shard-keys.js';
import { ShardMemo } from './shard-memo.js';
import { BATCHES_FILE, type BatchState, type ShardRecord, BatchState as State } from './state.js';

export type { BatchBackend, BatchBackendOptions, BatchProgress } from './backend-types.js';

/** Submissions of one line at most, by default: the first, and two more for expiry or transient failures. */
const DEFAULT_MAX_ATTEMPTS = 3;

/** The progress line comes at most this often: a line per poll of many shards would flood the log. */
const REPORT_EVERY_MS = 5000;

export function batchBackend(opts: BatchBackendOptions): BatchBackend {
  const state = stateOpener(opts);
  const waited = { ms: 0 };
  const progress = (): BatchProgress => progressOf(state.current(), waited.ms);
  const shared: BatchRunShared = {
    opts,
    maxAttempts: opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    state: state.open,
    queue: new EnqueuedBatches(),
    memo: new ShardMemo(opts.runDir),
    waited,
    scrub: (text) => opts.pool.scrub(text),
    report: progressReporter(opts, progress),
    sayStopped: stopNotice(opts, state.current),
    clientFor: clientCache(opts),
    assignAffinity: affinityAssigner(opts),
    answerRow: answerRows(opts),
  };
  const prepare = async (): Promise<void> => {
    if (opts.fresh) return;
    const file = await State.open(opts.runDir);
    file.assertLimits({ shardMaxRequests: opts.shardMaxRequests, shardMaxBytes: opts.shardMaxBytes });
  };
  return { prepare, task: (chunk, ctx) => runChunk(shared, chunk, ctx), progress };
}

/**
 * `batches.json`, opened once on first use (with `fresh`, after forgetting the recorded batches
 * and keys files), its shard limits checked; `current()` is undefined until then.
 */
function stateOpener(opts: BatchBackendOptions): {
  open: () => Promise<BatchState>;
  current: () => BatchState | undefined;
} {
  let opened: Promise<BatchState> | undefined;
  let current: BatchState | undefined;
  const openOnce = async (): Promise<BatchState> => {
    if (opts.fresh) {
      await rm(join(opts.runDir, BATCHES_FILE), { force: true });
      await rm(join(opts.runDir, SHARD_KEYS_DIR), { recursive: true, force: true });
    }
    const file = await State.open(opts.runDir);
    await file.checkLimits({ shardMaxRequests: opts.shardMaxRequests, shardMaxBytes: opts.shardMaxBytes });
    current = file;
    return current;
  };
  return {
    open: () => {
      opened ??= openOnce();
      return opened;
    },
    current: () => current,
  };
}

/** Batches created or resumed in this run, and the requests completed and failed across them. */
function progressOf(state: BatchState | undefined, waitedMs: number): BatchProgress {
  const out: BatchProgress = { batches: 0, completed: 0, failed: 0, waitedMs };
  for (const group of state?.groups ?? []) {
    for (const shard of group.shards) {
      if (!shard.batchId) continue;
      out.batches++;
      out.completed += shard.counts?.completed ?? 0;
      out.failed += shard.counts?.failed ?? 0;
    }
  }
  return out;
}

/** At most every 5 s: requests completed and failed across the run's batches, and the time waited. */
function progressReporter(opts: BatchBackendOptions, progress: () => BatchProgress): () => void {
  let lastReport = 0;
  return () => {
    if (Date.now() - lastReport < REPORT_EVERY_MS) return;
    lastReport = Date.now();
    const p = progress();
    opts.logger.info(
      `batches: ${p.batches}, ${p.completed} requests completed and ${p.failed} failed across them; waited ${Math.round(p.waitedMs / 1000)} s`,
    );
  };
}

/** Once, when a stop leaves batches on the API: how many, and how to resume or cancel them. */
function stopNotice(opts: BatchBackendOptions, current: () => BatchState | undefined): () => void {
  let said = false;
  return () => {
    const state = current();
    if (said || !state) return;
    said = true;
    const open = state.openShards().length;
    if (open === 0) return;
    opts.logger.info(
      opts.cancel
        ? `${open} batch(es) of this run are being cancelled on the API; rerun without --cancel to submit what they left unanswered`
        : `${open} batch(es) of this run keep running on the API; rerun the same command to resume polling them, or add --cancel to cancel them`,
    );
  };
}

/** One client per organization a shard is bound to, made on first use. */
function clientCache(opts: BatchBackendOptions): (shard: ShardRecord) => OpenAI {
  const clients = new Map<string, OpenAI>();
  return (shard) => {
    const affinity = shard.affinity ?? {};
    const key = JSON.stringify(affinity);
    let client = clients.get(key);
    if (!client) {
      client = affinityClient(opts.pool, affinity, opts.logger, opts.client);
      clients.set(key, client);
    }
    return client;
  };
}

/** A new shard's organization: the key the pool would lend now (so shards spread as the pool rotates). */
function affinityAssigner(opts: BatchBackendOptions): BatchRunShared['assignAffinity'] {
  return async (shard, ctx, model) => {
    if (shard.affinity) return;
    const lease = await opts.pool.acquire(
      { ...(typeof model === 'string' ? { model } : {}), tokens: 0, workerId: ctx.workerId },
      ctx.signal,
    );
    opts.pool.release(lease, { outcome: 'cancelled' });
    shard.affinity = affinityOf(lease);
  };
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
