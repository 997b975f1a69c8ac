/**
 * The Batch backend's task for one chunk: its rows form a group in `batches.json`; rows that an
 * earlier chunking already submitted take the answers of those batches; the rest are sent in
 * shards, attempt by attempt (a line that expired or failed transiently goes again in a new shard,
 * a shard too large for the enqueued token limit is split); then every row gets its row from its
 * outcome, in the chunk's order.
 */
import type OpenAI from 'openai';
import { AbortError } from '../errors.js';
import type { PromptJob } from '../requests/records.js';
import type { TaskContext } from '../workers/types.js';
import type { AnswerRow } from './answer-row.js';
import type { BatchBackendOptions, Row } from './backend-types.js';
import type { EnqueuedBatches } from './enqueued.js';
import { linesBody } from './reask.js';
import { readShardKeys, writeShardKeys } from './shard-keys.js';
import type { KeyedResult, ShardMemo } from './shard-memo.js';
import type { ShardEnv } from './shard-run.js';
import { type LineOutcome, planShards, type ShardItem } from './shards.js';
import {
  type BatchState,
  contentKey,
  fromRanges,
  type GroupRecord,
  type ShardRecord,
  toRanges,
} from './state.js';

/** What every chunk of a batch run shares (`batchBackend` makes it once). */
export interface BatchRunShared {
  readonly opts: BatchBackendOptions;
  /** Submissions of one line at most (the first and re-submissions). */
  readonly maxAttempts: number;
  /** `batches.json`, opened once (and emptied first with `fresh`). */
  state(): Promise<BatchState>;
  readonly queue: EnqueuedBatches;
  readonly memo: ShardMemo;
  readonly waited: { ms: number };
  scrub(text: string): string;
  /** After a batch's state or counts changed: the progress line, at most every few seconds. */
  report(): void;
  /** Once, when a stop leaves batches on the API: how many, and how to resume or cancel them. */
  sayStopped(): void;
  /** The client of a shard's organization. */
  clientFor(shard: ShardRecord): OpenAI;
  /** A new shard's organization: the key the pool would lend now. */
  assignAffinity(shard: ShardRecord, ctx: TaskContext, model: unknown): Promise<void>;
  answerRow: AnswerRow;
}

/** A row's identity (its `custom_id`); a job without one is named by its position. */
const keyOfJob = (job: PromptJob): string => job.key ?? `@${job.index}`;

/** The task of the Batch backend: the rows of `chunk`, in its order. */
export async function runChunk(shared: BatchRunShared, chunk: PromptJob[], ctx: TaskContext): Promise<Row[]> {
  const state = await shared.state();
  // A group is the chunk's rows (identities, in order), wherever they stand in the input now.
  const group = await state.group(
    chunk.map((job) => job.index),
    contentKey(chunk.map(keyOfJob)),
  );
  const run = new ChunkRun(shared, state, group, chunk, ctx);
  await run.takeHeldAnswers();
  await run.submitPending();
  return run.rows();
}

/**
 * When a shard was too large for the enqueued token limit (and can be split): the size to split
 * to, half the smallest such shard; else undefined.
 */
function splitSizeAfter(shards: readonly ShardRecord[]): number | undefined {
  const tooLarge = shards.filter((shard) => shard.tooLarge && fromRanges(shard.indices).length > 1);
  if (tooLarge.length === 0) return undefined;
  const smallest = Math.min(...tooLarge.map((shard) => fromRanges(shard.indices).length));
  return Math.ceil(smallest / 2);
}

/** The outcome of a row its shard's batch gave no answer for: sent again. */
function unanswered(shard: ShardRecord): LineOutcome {
  return {
    kind: 'retry',
    status: null,
    code: shard.state === 'expired' ? 'batch_expired' : (shard.state ?? null),
    message: shard.error ?? `batch ${shard.batchId} (${shard.state}) gave no answer for this request`,
  };
}

const NOT_SUBMITTED: LineOutcome = {
  kind: 'retry',
  status: null,
  code: 'not_submitted',
  message: 'not submitted',
};

class ChunkRun {
  readonly #shared: BatchRunShared;
  readonly #opts: BatchBackendOptions;
  readonly #state: BatchState;
  readonly #group: GroupRecord;
  readonly #groupNo: number;
  readonly #chunk: PromptJob[];
  readonly #ctx: TaskContext;
  readonly #byKey: Map<string, PromptJob>;
  readonly #byIndex: Map<number, PromptJob>;
  readonly #bodies: Map<number, Record<string, unknown>>;
  readonly #env: Omit<ShardEnv, 'indexOf' | 'onUnknown'>;
  /** Each row's outcome so far, by identity. */
  readonly #outcomes = new Map<string, LineOutcome>();

  constructor(
    shared: BatchRunShared,
    state: BatchState,
    group: GroupRecord,
    chunk: PromptJob[],
    ctx: TaskContext,
  ) {
    this.#shared = shared;
    this.#opts = shared.opts;
    this.#state = state;
    this.#group = group;
    this.#groupNo = state.groups.indexOf(group);
    this.#chunk = chunk;
    this.#ctx = ctx;
    this.#byKey = new Map(chunk.map((job) => [keyOfJob(job), job]));
    this.#byIndex = new Map(chunk.map((job) => [job.index, job]));
    this.#bodies = new Map(chunk.map((job) => [job.index, linesBody(job, this.#opts)]));
    this.#env = {
      state,
      logger: this.#opts.logger,
      pollIntervalMs: this.#opts.pollIntervalMs,
      stop: this.#opts.stop,
      cancel: this.#opts.cancel,
      queue: shared.queue,
      waited: shared.waited,
      scrub: shared.scrub,
      onChange: shared.report,
      signal: ctx.signal,
    };
  }

  /**
   * Rows that another chunking of the input already submitted (reordered or edited input): their
   * batches are polled and their answers used, never submitted again.
   */
  async takeHeldAnswers(): Promise<void> {
    const held = new Map<ShardRecord, string[]>();
    for (const job of this.#chunk) {
      for (const shard of await this.#shared.memo.holding(this.#state, this.#group, keyOfJob(job))) {
        held.set(shard, [...(held.get(shard) ?? []), keyOfJob(job)]);
      }
    }
    const found = await Promise.all([...held.keys()].map((shard) => this.#run(shard)));
    for (const [k, keys] of [...held.values()].entries()) {
      for (const key of keys) {
        const outcome = found[k]?.get(key);
        if (outcome && outcome.kind !== 'retry') this.#outcomes.set(key, outcome);
      }
    }
  }

  /**
   * Sends the rows without an outcome, attempt by attempt, until every one has an answer or the
   * attempts are spent. A shard too large for the enqueued token limit is split, not counted
   * against the attempts.
   */
  async submitPending(): Promise<void> {
    let pending = this.#chunk.filter((job) => !this.#outcomes.has(keyOfJob(job)));
    let attempts = this.#shared.maxAttempts;
    let splitTo = this.#opts.shardMaxRequests;
    for (let attempt = 1; attempt <= attempts && pending.length > 0; attempt++) {
      const shards = await this.#shardsOfAttempt(attempt, pending, splitTo);
      const results = await Promise.all(shards.map((shard) => this.#run(shard))).catch((error: unknown) => {
        if (this.#opts.stop.aborted) this.#shared.sayStopped();
        throw error;
      });
      pending = await this.#recordOutcomes(shards, results);
      const split = splitSizeAfter(shards);
      if (split !== undefined) {
        splitTo = Math.min(splitTo, split);
        attempts += 1;
      }
      if (pending.length > 0 && attempt < attempts) {
        this.#opts.logger.info(
          `${pending.length} request(s) of chunk ${this.#groupNo} not answered; submitting them again (attempt ${attempt + 1} of ${attempts})`,
        );
      }
    }
  }

  /** Every row of the chunk, in its order, from its outcome (a row never submitted says so). */
  rows(): Promise<Row[]> {
    return Promise.all(
      this.#chunk.map((job) =>
        this.#shared.answerRow(
          job,
          this.#body(job),
          this.#outcomes.get(keyOfJob(job)) ?? NOT_SUBMITTED,
          this.#ctx,
        ),
      ),
    );
  }

  /**
   * The shards of an attempt: those `batches.json` recorded (a resumed run), else the pending
   * rows planned into new ones (at most `splitTo` rows each), each with its keys file and its
   * organization, recorded before any is submitted.
   */
  async #shardsOfAttempt(attempt: number, pending: PromptJob[], splitTo: number): Promise<ShardRecord[]> {
    const recorded = this.#group.shards.filter((s) => s.attempt === attempt);
    if (recorded.length > 0) return recorded;
    if (this.#opts.cancel)
      throw new AbortError('--cancel: nothing more is submitted; rerun without --cancel to go on');
    const planned = planShards(
      pending.map((job) => this.#item(job)),
      splitTo,
      this.#opts.shardMaxBytes,
    );
    const shards: ShardRecord[] = planned.map((p, n) => ({
      id: `${this.#groupNo}-${attempt}-${n}`,
      attempt,
      endpoint: p.endpoint,
      indices: toRanges(p.indices),
    }));
    for (const [n, shard] of shards.entries()) {
      const jobs = (planned[n]?.indices ?? []).map((index) => this.#byIndex.get(index) as PromptJob);
      await writeShardKeys(this.#opts.runDir, shard.id, jobs.map(keyOfJob));
      const first = jobs[0];
      await this.#shared.assignAffinity(shard, this.#ctx, first ? this.#body(first)['model'] : undefined);
    }
    this.#group.shards.push(...shards);
    await this.#state.save();
    return shards;
  }

  /** Records each row's outcome from its shard's result; returns the rows to send again, in input order. */
  async #recordOutcomes(
    shards: readonly ShardRecord[],
    results: readonly KeyedResult[],
  ): Promise<PromptJob[]> {
    const again: PromptJob[] = [];
    for (const [k, shard] of shards.entries()) {
      const result = results[k] as KeyedResult;
      for (const job of this.#rowsOf(shard, await readShardKeys(this.#opts.runDir, shard.id))) {
        const outcome = result.get(keyOfJob(job)) ?? unanswered(shard);
        this.#outcomes.set(keyOfJob(job), outcome);
        if (outcome.kind === 'retry') again.push(job);
      }
    }
    return again.sort((a, b) => a.index - b.index);
  }

  /** Runs a shard to its end (once for the whole run: the memo shares it). */
  #run(shard: ShardRecord): Promise<KeyedResult> {
    return this.#shared.memo.run(
      shard,
      this.#shared.clientFor(shard),
      this.#env,
      (keys) => this.#inputOf(shard, keys),
      (index) => {
        const job = this.#byIndex.get(index);
        return job ? keyOfJob(job) : undefined;
      },
    );
  }

  /** A shard's input file: its rows' lines, as they were planned. */
  #inputOf(shard: ShardRecord, keys: readonly string[] | undefined): Buffer {
    const [planned] = planShards(
      this.#rowsOf(shard, keys).map((job) => this.#item(job)),
      Number.MAX_SAFE_INTEGER,
      Number.MAX_SAFE_INTEGER,
    );
    return Buffer.from((planned?.lines ?? []).join(''));
  }

  /** The rows of a shard of this group: its keys file, else (recorded before them) its positions. */
  #rowsOf(shard: ShardRecord, keys: readonly string[] | undefined): PromptJob[] {
    return keys
      ? keys.flatMap((key) => this.#byKey.get(key) ?? [])
      : fromRanges(shard.indices).flatMap((index) => this.#byIndex.get(index) ?? []);
  }

  #item(job: PromptJob): ShardItem {
    return { index: job.index, endpoint: job.endpoint, key: job.key, body: this.#body(job) };
  }

  #body(job: PromptJob): Record<string, unknown> {
    return this.#bodies.get(job.index) as Record<string, unknown>;
  }
}
