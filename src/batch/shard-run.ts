/**
 * One shard's life on the Batch API: upload its input file, create its batch, poll it (capped
 * backoff) to a final state, download its output and error files. Every step is recorded in
 * `batches.json` before it is taken further, and a recorded step is never taken again: a rerun
 * polls the recorded batch. A batch that failed with `token_limit_exceeded` is created again from
 * the same file once a batch that held the queue at its creation has ended, or split when none
 * did (`enqueued.ts`).
 */
import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type OpenAI from 'openai';
import { toFile } from 'openai';
import { AbortError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { EnqueuedBatches, Ticket } from './enqueued.js';
import {
  ENDPOINT_URLS,
  indexOfCustomId,
  type LineOutcome,
  lineOutcome,
  pollDelay,
  validationOutcomes,
} from './shards.js';
import { type BatchState, fromRanges, isTerminal, type ShardRecord } from './state.js';

/** Batches failing with `token_limit_exceeded` this many times in a row end the shard's lines as failed. */
export const TOKEN_LIMIT_RETRIES = 20;

export interface ShardEnv {
  state: BatchState;
  logger: Logger;
  pollIntervalMs: number;
  /** The first stop (Ctrl-C, stopSignal): polling stops, batches stay (or are cancelled with `cancel`). */
  stop: AbortSignal;
  cancel: boolean;
  /** The batches of this run and whether each holds tokens in its organization's queue. */
  queue: EnqueuedBatches;
  /** Time spent waiting on batches (ms), across shards. */
  waited: { ms: number };
  scrub: (text: string) => string;
  /** Aborted when the run is cancelled (a second Ctrl-C): requests in flight are aborted. */
  signal?: AbortSignal;
  /** Called when a batch's state or counts changed. */
  onChange?: () => void;
  /** The item of a result line's `custom_id` (a row identity); else it is read as `i-<index>`. */
  indexOf?: (customId: unknown) => number | undefined;
  /** A result line whose `custom_id` no index is known for (yet): kept by the caller by its id. */
  onUnknown?: (customId: string, outcome: LineOutcome) => void;
}

/** What a finished shard says about its lines, by input position; missing ones were never answered. */
export type ShardResult = Map<number, LineOutcome>;

const stopped = (): AbortError =>
  new AbortError(
    'stopped: the batches keep running on the API; rerun the same command to resume polling them (add --cancel to cancel them)',
  );

/** Waits `ms`, or until `signal` aborts or `emitter` emits 'change' (when given). */
function wait(ms: number, signal: AbortSignal, emitter?: EventEmitter): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      emitter?.off('change', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    emitter?.once('change', done);
  });
}

/** Request options: the run's abort signal. */
const req = (env: ShardEnv) => (env.signal ? { signal: env.signal } : {});

async function record(env: ShardEnv, shard: ShardRecord, change: Partial<ShardRecord>): Promise<void> {
  Object.assign(shard, change, { updatedAt: new Date().toISOString() });
  await env.state.save();
}

/** Finds a batch of `fileId` that a killed run created but did not record (so it is not paid twice). */
async function findBatchOf(
  client: OpenAI,
  env: ShardEnv,
  fileId: string,
  other?: string,
): Promise<OpenAI.Batches.Batch | undefined> {
  let seen = 0;
  for await (const batch of client.batches.list({ limit: 100 }, req(env))) {
    if (batch.input_file_id === fileId && batch.id !== other) return batch;
    if (++seen > 10_000) break;
  }
  return undefined;
}

/** The file named `name` that a killed run uploaded but did not record, if the API has it. */
async function findFileNamed(client: OpenAI, env: ShardEnv, name: string): Promise<string | undefined> {
  let seen = 0;
  for await (const file of client.files.list({ limit: 100 }, req(env))) {
    if (file.filename === name) return file.id;
    // Newest first: a run's own upload is near the top; this bounds the walk on a crowded account.
    if (++seen > 10_000) break;
  }
  return undefined;
}

/**
 * Uploads the shard's input file under a name recorded first, so a run killed mid-upload is
 * followed by one that adopts that file rather than leaving it orphaned at the provider.
 */
async function uploadInput(client: OpenAI, env: ShardEnv, shard: ShardRecord, input: () => Buffer) {
  if (env.stop.aborted) throw stopped();
  const found = shard.uploadName ? await findFileNamed(client, env, shard.uploadName) : undefined;
  if (found) {
    await record(env, shard, { fileId: found });
    env.logger.info(
      `shard ${shard.id}: input file ${found} uploaded by a stopped run is used, not uploaded again`,
    );
    return;
  }
  const name = `keybatch-${shard.id}-${randomBytes(6).toString('hex')}.jsonl`;
  await record(env, shard, { uploadName: name });
  const file = await client.files.create({ file: await toFile(input(), name), purpose: 'batch' }, req(env));
  await record(env, shard, { fileId: file.id });
}

/** The queue a shard's batches count against: its organization (or key without one). */
const scopeOf = (shard: ShardRecord): string => JSON.stringify(shard.affinity ?? {});

async function createBatch(client: OpenAI, env: ShardEnv, shard: ShardRecord): Promise<Ticket> {
  await record(env, shard, { creating: true });
  const ticket = env.queue.creating(scopeOf(shard));
  let batch: OpenAI.Batches.Batch;
  try {
    batch = await client.batches.create(
      {
        input_file_id: shard.fileId as string,
        endpoint: ENDPOINT_URLS[shard.endpoint as keyof typeof ENDPOINT_URLS] as '/v1/chat/completions',
        completion_window: '24h',
        metadata: { keybatch_shard: shard.id },
      },
      req(env),
    );
  } catch (error) {
    env.queue.release(ticket);
    throw error;
  }
  env.queue.created(ticket);
  env.queue.observe(ticket, batch.status);
  await record(env, shard, { batchId: batch.id, state: batch.status, creating: false });
  env.logger.info(
    `batch ${batch.id} created for shard ${shard.id} (${fromRanges(shard.indices).length} requests)`,
  );
  return ticket;
}

function describeErrors(batch: OpenAI.Batches.Batch): string {
  const data = batch.errors?.data ?? [];
  return data
    .map((e) => `${e.line ? `line ${e.line}: ` : ''}${e.code ?? 'error'}: ${e.message ?? ''}`)
    .join('; ');
}

/** Polls the shard's batch until it is over (completed, failed, expired, cancelled). */
async function pollToEnd(
  client: OpenAI,
  env: ShardEnv,
  shard: ShardRecord,
  ticket: Ticket,
): Promise<OpenAI.Batches.Batch> {
  let unchanged = 0;
  let cancelAsked = false;
  try {
    for (;;) {
      const batch = await client.batches.retrieve(shard.batchId as string, req(env));
      env.queue.observe(ticket, batch.status);
      const counts = batch.request_counts ?? { total: 0, completed: 0, failed: 0 };
      const moved =
        batch.status !== shard.state ||
        counts.completed !== shard.counts?.completed ||
        counts.failed !== shard.counts?.failed;
      if (moved) {
        unchanged = 0;
        await record(env, shard, {
          state: batch.status,
          counts: { total: counts.total, completed: counts.completed, failed: counts.failed },
          outputFileId: batch.output_file_id ?? null,
          errorFileId: batch.error_file_id ?? null,
        });
        env.logger.info(
          `batch ${batch.id} (shard ${shard.id}): ${batch.status}, ${counts.completed}/${counts.total} completed, ${counts.failed} failed`,
        );
        env.onChange?.();
      } else unchanged++;
      if (isTerminal(batch.status)) return batch;
      if (env.stop.aborted || env.cancel) {
        if (!env.cancel) throw stopped();
        if (!cancelAsked) {
          cancelAsked = true;
          const cancelled = await client.batches.cancel(batch.id, req(env));
          await record(env, shard, { state: cancelled.status });
          env.logger.info(`batch ${batch.id} (shard ${shard.id}): cancel asked (${cancelled.status})`);
        }
      }
      // A cancel is polled like a run (--poll-interval, backing off): cancelling can take minutes.
      const delay = pollDelay(env.pollIntervalMs, unchanged);
      const started = Date.now();
      await wait(delay, env.stop);
      env.waited.ms += Date.now() - started;
    }
  } finally {
    env.queue.release(ticket);
  }
}

async function download(
  client: OpenAI,
  env: ShardEnv,
  id: string | null | undefined,
  into: ShardResult,
): Promise<void> {
  if (!id) return;
  const text = await (await client.files.content(id, req(env))).text();
  let bad = 0;
  let firstBad = 0;
  text.split('\n').forEach((source, k) => {
    if (source.trim() === '') return;
    const line = parseLine(source);
    const index = line ? (env.indexOf?.(line['custom_id']) ?? indexOfCustomId(line['custom_id'])) : undefined;
    if (line && index !== undefined) into.set(index, lineOutcome(line));
    else if (line && typeof line['custom_id'] === 'string' && env.onUnknown)
      env.onUnknown(line['custom_id'], lineOutcome(line));
    else if (!line && bad++ === 0) firstBad = k + 1;
  });
  // A line cut short or not an object affects its own row alone: unanswered, it is asked again.
  if (bad > 0) {
    env.logger.warn(
      `file ${id}: ${bad} line(s) not a JSON object, first line ${firstBad}; their requests are asked again`,
    );
  }
}

/** One line of an output or error file as an object, or undefined when it is not JSON or not an object. */
function parseLine(source: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(source);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A batch refused `token_limit_exceeded` while no other batch of this run held tokens in the queue
 * (those created beside it were refused too): waiting cannot help. Its lines go again in smaller shards (the backend halves them); a single request that
 * alone passes the limit fails for good, with the reason.
 */
async function tooLarge(
  env: ShardEnv,
  shard: ShardRecord,
  batch: OpenAI.Batches.Batch,
  result: ShardResult,
): Promise<ShardResult> {
  const indices = fromRanges(shard.indices);
  const why = env.scrub(describeErrors(batch));
  if (!shard.tooLarge) {
    await record(env, shard, { tooLarge: true, error: why });
    env.logger.warn(
      indices.length > 1
        ? `batch ${batch.id} (shard ${shard.id}): token_limit_exceeded with no other batch of this run enqueued: its ${indices.length} requests alone pass the organization's enqueued token limit; they go again in smaller shards`
        : `batch ${batch.id} (shard ${shard.id}): token_limit_exceeded with no other batch of this run enqueued: its one request alone passes the organization's enqueued token limit; it fails (send it without --batch)`,
    );
  }
  if (indices.length === 1) {
    const message = `this request alone passes the organization's enqueued token limit of the Batch API (${why}); send it without --batch`;
    const error = { code: 'token_limit_exceeded', message };
    result.set(indices[0] as number, {
      kind: 'final',
      status: 400,
      code: 'token_limit_exceeded',
      message,
      error,
      requestId: null,
    });
  }
  return result;
}

/** Waits while a batch open at the refused one's creation may hold tokens; then judges the refusal. */
async function settle(env: ShardEnv, ticket: Ticket): Promise<'again' | 'alone'> {
  const started = Date.now();
  try {
    for (;;) {
      const judgement = env.queue.judge(ticket);
      if (judgement !== 'wait') return judgement;
      await wait(2 ** 31 - 1, env.stop, env.queue);
      if (env.stop.aborted) throw stopped();
    }
  } finally {
    env.waited.ms += Date.now() - started;
  }
}

/**
 * The shard's batch was refused `token_limit_exceeded`: too large alone (see `tooLarge`), out of
 * retries (its lines are left unanswered), or a new batch of the same file once the queue moved.
 */
async function afterRefusal(
  client: OpenAI,
  env: ShardEnv,
  shard: ShardRecord,
  batch: OpenAI.Batches.Batch,
  ticket: Ticket,
): Promise<Ticket | 'too large' | 'out of retries'> {
  if (shard.tooLarge || (await settle(env, ticket)) === 'alone') return 'too large';
  const retries = (shard.tokenLimitRetries ?? 0) + 1;
  if (retries > TOKEN_LIMIT_RETRIES) {
    await record(env, shard, { error: env.scrub(describeErrors(batch)) });
    return 'out of retries';
  }
  env.logger.info(
    `batch ${batch.id} (shard ${shard.id}): token_limit_exceeded; a batch of this run held the queue: submitting it again`,
  );
  // A run killed while creating it again may have made it: adopt that one.
  const made = shard.creating ? await findBatchOf(client, env, shard.fileId as string, batch.id) : undefined;
  if (made) {
    await record(env, shard, { batchId: made.id, state: made.status, creating: false });
    return env.queue.adopt(scopeOf(shard));
  }
  await record(env, shard, { tokenLimitRetries: retries });
  return createBatch(client, env, shard);
}

/** Creates the shard's batch, or adopts the one a run killed while creating it made. */
async function submit(client: OpenAI, env: ShardEnv, shard: ShardRecord): Promise<Ticket> {
  // A run killed while creating it may have made the batch: look for it by its input file.
  const found = shard.creating ? await findBatchOf(client, env, shard.fileId as string) : undefined;
  if (found) {
    await record(env, shard, { batchId: found.id, state: found.status });
    return env.queue.adopt(scopeOf(shard));
  }
  if (env.stop.aborted) throw stopped();
  return createBatch(client, env, shard);
}

/**
 * Runs the shard to its end and reads its results. `input` builds the file's bytes (only if it
 * must be uploaded). Throws AbortError when stopped (batches left running, or cancelled).
 */
export async function runShard(
  client: OpenAI,
  env: ShardEnv,
  shard: ShardRecord,
  input: () => Buffer,
): Promise<ShardResult> {
  const result: ShardResult = new Map();
  if (env.cancel && !shard.batchId) throw stopped();
  if (!shard.fileId) await uploadInput(client, env, shard, input);
  let ticket = shard.batchId ? env.queue.adopt(scopeOf(shard)) : await submit(client, env, shard);
  for (;;) {
    const batch = await pollToEnd(client, env, shard, ticket);
    if (batch.status === 'cancelled' && env.cancel)
      throw new AbortError(
        `batch ${batch.id} cancelled; rerun without --cancel to submit its unanswered requests again`,
      );
    if (batch.status !== 'failed') break;
    const errors = batch.errors?.data ?? [];
    if (errors.some((e) => e.code === 'token_limit_exceeded')) {
      const next = await afterRefusal(client, env, shard, batch, ticket);
      if (next === 'too large') return tooLarge(env, shard, batch, result);
      if (next === 'out of retries') return result;
      ticket = next;
      continue;
    }
    // Refused at validation: the lines it names fail for good, the others are sent again.
    for (const [index, outcome] of validationOutcomes(errors, fromRanges(shard.indices), batch.id)) {
      result.set(index, outcome);
    }
    await record(env, shard, { error: env.scrub(describeErrors(batch)), downloaded: true });
    return result;
  }
  await download(client, env, shard.outputFileId, result);
  await download(client, env, shard.errorFileId, result);
  if (!shard.downloaded) await record(env, shard, { downloaded: true });
  return result;
}
