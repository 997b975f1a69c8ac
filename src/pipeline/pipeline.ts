/**
 * runPipeline: streams the input, skips what the checkpoint already has, cuts the rest into
 * chunks pulled by lanes as they free up, checkpoints each chunk's results as it completes, and
 * at the end merges the lane files into the output in input order.
 */

import { checkOutputPath, DoneSet, openRunDir, type RunDir, writeOrder } from '../checkpoint/index.js';
import type { Coordinator } from '../distributed/coordinator.js';
import { InputError, KeybatchError, keybatchErrorOf } from '../errors.js';
import { isFinalRequestError } from '../keys/final-request.js';
import { KeyPool } from '../keys/key-pool.js';
import { consoleLogger, type Logger } from '../logger.js';
import { AnswerMemo } from '../workers/answer-memo.js';
import type { ChunkJob, ChunkOutcome, LaneRunner } from '../workers/runners.js';
import { afterFailedAttempt } from './chunk-retry.js';
import { type OpenedInput, openInput, type PipelineInput } from './input.js';
import {
  extraOf,
  KEYED_FINGERPRINT,
  KeyColumn,
  type KeyedState,
  openKeyedState,
  planKeyedChunks,
  resultsInOrder,
} from './keyed-plan.js';
import { createLaneRunner, openDistributedRunner, sleep } from './lane-runner.js';
import { type PipelineOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { type Chunk, type PlanStats, planChunks } from './planner.js';
import { ProgressMeter } from './progress.js';
import { Recorder } from './recorder.js';
import type { PipelineConfig, PipelineResult, PipelineStats, PipelineTask, StoppedRun } from './result.js';
import { RunStop } from './stop.js';

export type { PipelineConfig, PipelineResult, PipelineStats, PipelineTask, StoppedRun } from './result.js';

/**
 * Runs `fn` over `data` in chunks on concurrent lanes (in-process for a function, worker threads
 * for a module path/URL), with every request of `ctx.client` leasing a key from the pool.
 */
export async function runPipeline<T = unknown, R = unknown, A = unknown>(
  config: PipelineConfig,
  data: PipelineInput<T>,
  fn: PipelineTask<T, R, A>,
  options?: PipelineOptions<A, T>,
): Promise<PipelineResult<R>> {
  const opts = resolveOptions(options);
  if (typeof fn !== 'function' && typeof fn !== 'string' && !(fn instanceof URL)) {
    throw new InputError(`Expected \`fn\` to be a function or a module path/URL, got ${typeof fn}`);
  }
  const logger = opts.logger ?? consoleLogger();
  const ownPool = !(config instanceof KeyPool);
  // A distributed run's pool is the one its workers share through Redis (their counters show here).
  const shared = opts.distributed ? { shared: { url: opts.distributed.redis } } : {};
  const pool =
    config instanceof KeyPool ? config : await KeyPool.open(config, { logger, ...shared, ...opts.pool });
  try {
    return await new Run<T, R, A>(pool, fn, opts, logger).execute(data);
  } finally {
    if (ownPool) await pool.close();
  }
}

class Run<T, R, A> {
  private readonly started = Date.now();
  /** Draining (no new chunks) or aborted (every request of every lane listens to its signal). */
  private readonly halt = new RunStop();
  private readonly meter = new ProgressMeter();
  private readonly plan: PlanStats = { seen: 0, skipped: 0, exhausted: false };
  private inFlight = 0;
  /** Items handed to lanes (for `limit`). */
  private dispatched = 0;
  private total: number | undefined;
  private stopError: KeybatchError | undefined;
  private fatal: { error: unknown } | undefined;
  private readonly results: R[] = [];
  private runDir: RunDir | undefined;
  private readonly recorder: Recorder<T, R>;
  /** A distributed run's coordinator: chunks go through its queue instead of to local lanes. */
  private coordinator: Coordinator | undefined;
  /** A content-keyed run (`itemKey`): slots, the order of positions, duplicates. Indices are slots. */
  private keyed: KeyedState<T> | undefined;
  /** Slots recorded in this run (keyed runs): a duplicate read after its answer counts as answered. */
  private readonly recordedNow = new DoneSet();
  private readonly settled = {
    answered: (slot: number) => this.recordedNow.has(slot),
    answeredLate: (_slot: number) => {
      this.recorder.counts.done += 1;
    },
  };

  constructor(
    private readonly pool: KeyPool,
    private readonly fn: PipelineTask<T, R, A>,
    private readonly opts: ResolvedOptions<A, T>,
    private readonly logger: Logger,
  ) {
    const options = {
      runDir: () => this.runDir,
      toFile: opts.output !== undefined,
      failureOutput: opts.failureOutput,
      scrub: (text: string) => pool.scrub(text),
      logger,
      ...(opts.itemKey
        ? {
            shared: {
              extra: (i: number) => extraOf(this.keyed as KeyedState<unknown> | undefined, i),
              recorded: (i: number) => this.recordedNow.add(i),
            },
          }
        : {}),
    };
    this.recorder = new Recorder<T, R>(options, this.results);
  }

  /** Runs, then closes the run directory (its lock is released) however the run ended. */
  async execute(data: PipelineInput<T>): Promise<PipelineResult<R>> {
    try {
      return await this.executeHoldingDir(data);
    } finally {
      await this.runDir?.close();
    }
  }

  private async executeHoldingDir(data: PipelineInput<T>): Promise<PipelineResult<R>> {
    const { opts } = this;
    // Worker threads start (and load the task module) while the input is checked and counted.
    let runner = opts.distributed
      ? undefined
      : createLaneRunner(this.fn, this.pool, opts, this.halt.stoppedSignal);
    let input: OpenedInput<T>;
    let isDone: (i: number) => boolean;
    try {
      ({ input, isDone } = await this.open(data));
      runner ??= this.coordinator = await openDistributedRunner({
        opts: this.opts,
        fn: this.fn,
        pool: this.pool,
        logger: this.logger,
        fingerprint: input.fingerprint,
        isDone,
      });
    } catch (error) {
      await runner?.close();
      throw error;
    }
    try {
      await this.runAll(input, isDone, runner);
      return await this.finish();
    } finally {
      await runner.close();
    }
  }

  private async runAll(
    input: OpenedInput<T>,
    isDone: (i: number) => boolean,
    runner: LaneRunner,
  ): Promise<void> {
    const { opts } = this;
    const detach = this.attachSignals();
    const ticker = this.startProgress();
    void this.pool.notify({ kind: 'started', message: `run started on ${input.label}` });
    try {
      const chunks = this.keyed
        ? planKeyedChunks(input.batches, isDone, opts.chunkSize, this.plan, this.keyed)
        : planChunks(input.batches, isDone, opts.chunkSize, this.plan);
      const loops: Promise<void>[] = [];
      if (opts.distributed) {
        // A slot per chunk of the window; their results all go to lane file 0.
        const window = opts.distributed.window ?? 1;
        for (let slot = 0; slot < window; slot++) loops.push(this.lane(0, chunks, runner));
      }
      for (let lane = 0; lane < (opts.distributed ? 0 : opts.workers); lane++) {
        for (let slot = 0; slot < opts.concurrency; slot++) loops.push(this.lane(lane, chunks, runner));
      }
      await Promise.all(loops);
      if (this.fatal) throw this.fatal.error;
      await chunks.return(undefined);
    } catch (error) {
      // Not awaited: a webhook that hangs must not hold the error back (the pool's close bounds it).
      void this.pool.notify({ kind: 'crashed', message: `run crashed: ${this.pool.scrub(String(error))}` });
      throw error;
    } finally {
      clearInterval(ticker);
      detach();
      this.recorder.close();
    }
  }

  /** Opens the input and, when checkpointing, the run directory: what is done already. */
  private async open(
    data: PipelineInput<T>,
  ): Promise<{ input: OpenedInput<T>; isDone: (i: number) => boolean }> {
    const { opts } = this;
    const overwrite = opts.overwrite === true;
    // Before anything is read or sent: the output can be written, and is not the input (ever).
    if (opts.output) {
      await checkOutputPath(opts.output, { input: typeof data === 'string' ? data : opts.inputFile });
    }
    // Worker threads get a file's lines as bytes, and decode and parse them there, off the main thread.
    // A keyed run reads each item here for its key (worker threads get items, not lines).
    const keyed = opts.itemKey !== undefined;
    // A keyed run's file: keys are taken as its lines are checked, and only lines handed out are parsed again.
    const column =
      opts.itemKey && typeof data === 'string'
        ? new KeyColumn<T>(opts.itemKey, opts.keyedRows && ((item, p) => opts.keyedRows!.tag(item, p)))
        : undefined;
    const input = await openInput(data, {
      // (Lines as bytes: a line whose key is done is never even decoded.)
      fileBytes: column !== undefined || (typeof this.fn !== 'function' && !keyed),
      ...(column ? { visit: column.visit } : {}),
    });
    this.total = input.total ?? opts.total;
    const dir = opts.checkpoint ?? (opts.output ? `${opts.output}.keybatch` : undefined);
    if (!dir) {
      if (opts.itemKey)
        this.keyed = openKeyedState(undefined, opts.itemKey, opts.keyedRows, this.settled, column);
      return { input, isDone: () => false };
    }
    // Locked until execute() closes it; refuses an output this run directory did not write.
    this.runDir = await openRunDir(dir, {
      fingerprint: keyed ? KEYED_FINGERPRINT : input.fingerprint,
      options: { args: opts.args ?? null, ...opts.resultOptions, ...(keyed ? { identity: 'content' } : {}) },
      fresh: !opts.resume,
      ...(opts.output ? { output: opts.output, overwrite } : {}),
    });
    if (opts.itemKey) this.keyed = openKeyedState(dir, opts.itemKey, opts.keyedRows, this.settled, column);
    const scan = await this.runDir.scan();
    if (scan.tornLines > 0)
      this.logger.debug(`${dir}: ${scan.tornLines} torn line(s) ignored; those items are redone`);
    for (const line of scan.corrupt) this.logger.warn(line);
    let isDone = (i: number) => scan.done.has(i);
    if (!opts.output && scan.done.size > 0) {
      // In memory, done means a result was read back (a damaged one is redone).
      const read = new DoneSet();
      await this.runDir.readResults((i, value) => {
        this.results[i] = value as R;
        read.add(i);
      });
      isDone = (i) => read.has(i);
    }
    if (this.total !== undefined) await this.runDir.setTotal(this.total, false);
    return { input, isDone };
  }

  /** One slot of a lane: pulls chunks until the input ends or the run stops. */
  private async lane(lane: number, chunks: AsyncGenerator<Chunk<T>>, runner: LaneRunner): Promise<void> {
    while (!this.stopping) {
      let next: IteratorResult<Chunk<T>>;
      try {
        next = await chunks.next();
      } catch (error) {
        // The input broke (a bad line of a stream): stop taking chunks; lanes finish what they hold.
        this.fatal ??= { error };
        return;
      }
      if (next.done) return;
      if (this.opts.limit !== undefined && this.dispatched >= this.opts.limit) {
        // An item past the limit is pending: stop (resumable); it has no record, so a rerun runs it.
        this.stopError ??= new KeybatchError('LIMIT_REACHED', `stopped: --limit ${this.opts.limit} reached`);
        return;
      }
      this.dispatched += next.value.indices.length;
      await this.runChunk(lane, next.value, runner);
    }
  }

  private get stopping(): boolean {
    return this.stopError !== undefined || this.fatal !== undefined || this.halt.stopping;
  }

  private async runChunk(lane: number, chunk: Chunk<T>, runner: LaneRunner): Promise<void> {
    const size = chunk.indices.length;
    this.inFlight += size;
    const job: ChunkJob = {
      chunk: chunk.items,
      chunkIndex: chunk.chunkIndex,
      lane,
      signal: this.halt.controller.signal,
      args: this.opts.args,
      indices: chunk.indices,
    };
    if (chunk.lines) job.lines = chunk.lines;
    // Results only go to the output file: a worker thread may encode them as lane-file lines itself.
    // (Not when results are wanted as values: onResults.)
    if (this.runDir && this.opts.output && !this.opts.onResults) job.encodeFor = chunk.indices;
    // A chunk of several items keeps what it paid for: a retry, or the split below, asks again
    // only what was not answered.
    if (size > 1 && runner.memoizes) job.memo = new AnswerMemo();
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          job.memo?.startPass();
          await this.recordOutcome(lane, chunk, await runner.run(job));
          return;
        } catch (error) {
          if (this.halt.aborted) return;
          const verdict = afterFailedAttempt(error, attempt, this.opts.chunkRetries);
          if (verdict === 'stop') {
            this.stopFor(keybatchErrorOf(error));
            return;
          }
          if (verdict === 'fatal') return this.failRun(error);
          // Stopping: a chunk that failed is not tried again now; it has no record, so the rerun runs it.
          if (verdict === 'retry' && this.stopping) return;
          if (verdict === 'fail' && job.memo && isFinalRequestError(error)) {
            return await this.runSplit(lane, chunk, job, runner);
          }
          if (verdict === 'fail') return this.recordFailed(lane, chunk, error, attempt + 1);
          await sleep(this.opts.chunkRetryDelayMs * 2 ** attempt, this.halt.controller.signal);
          if (this.stopping) return;
        }
      }
    } catch (error) {
      // Recording a failure could not be written either (the checkpoint's disk is full).
      this.failRun(error);
    } finally {
      this.inFlight -= size;
    }
  }

  private async recordOutcome(lane: number, chunk: Chunk<T>, outcome: ChunkOutcome): Promise<void> {
    if ('encoded' in outcome) this.recorder.recordEncoded(lane, chunk, outcome.encoded);
    else {
      this.recorder.record(lane, chunk, outcome.results as R[]);
      this.opts.onResults?.(outcome.results);
    }
    await outcome.ack?.();
  }

  /** A failed chunk or item: a final failure row for a request the API refused as sent, else a failure a rerun retries. */
  private recordFailed(lane: number, chunk: Chunk<T>, error: unknown, attempts: number): void {
    if (isFinalRequestError(error)) this.recorder.recordFinal(lane, chunk, error);
    else this.recorder.recordFailure(lane, chunk, error, attempts);
  }

  /**
   * A chunk of several items failed for good: each item runs alone, once, answered from the
   * chunk's memo where it was already paid for, so one bad item fails alone and its neighbours'
   * results are kept without being paid for again.
   */
  private async runSplit(lane: number, chunk: Chunk<T>, job: ChunkJob, runner: LaneRunner): Promise<void> {
    job.memo?.startPass();
    for (const [k, index] of chunk.indices.entries()) {
      if (this.stopping) return;
      const one: Chunk<T> = {
        chunkIndex: chunk.chunkIndex,
        indices: [index],
        items: chunk.lines ? [] : [chunk.items[k]!],
      };
      if (chunk.lines) one.lines = [chunk.lines[k]!];
      const single: ChunkJob = { ...job, chunk: one.items, indices: one.indices };
      if (one.lines) single.lines = one.lines;
      if (job.encodeFor) single.encodeFor = one.indices;
      try {
        await this.recordOutcome(lane, one, await runner.run(single));
      } catch (error) {
        if (this.halt.aborted) return;
        const verdict = afterFailedAttempt(error, this.opts.chunkRetries, this.opts.chunkRetries);
        if (verdict === 'stop') {
          this.stopFor(keybatchErrorOf(error));
          return;
        }
        if (verdict === 'fatal') return this.failRun(error);
        this.recordFailed(lane, one, error, 1);
      }
    }
  }

  /**
   * The checkpoint cannot be written (`CHECKPOINT_WRITE`): the run fails with that error, and the
   * requests in flight are aborted, since their results could not be kept either.
   */
  private failRun(error: unknown): void {
    this.fatal ??= { error };
    this.halt.abort('the checkpoint cannot be written');
  }

  /**
   * `signal`, `stopSignal` and (with `handleSignals`) SIGINT/SIGTERM/SIGHUP. While draining, a pool
   * with no usable key aborts what is in flight: a wait for a key is not part of finishing.
   */
  private attachSignals(): () => void {
    const { signal, stopSignal, handleSignals } = this.opts;
    const onBlocked = () => {
      if (this.halt.draining) this.halt.abort('no usable key while finishing');
    };
    const detach = this.halt.attach({
      signal,
      stopSignal,
      handleSignals,
      logger: this.logger,
      onDrain: () => {
        if (this.pool.blocked) onBlocked();
      },
    });
    this.pool.on('blocked', onBlocked);
    return () => {
      this.pool.off('blocked', onBlocked);
      detach();
    };
  }

  private startProgress(): NodeJS.Timeout | undefined {
    if (!this.opts.onProgress) return undefined;
    const timer = setInterval(() => this.report(), this.opts.progressIntervalMs);
    timer.unref();
    return timer;
  }

  private report(): void {
    this.opts.onProgress?.(
      this.meter.snapshot(
        {
          total: this.total ?? (this.plan.exhausted ? this.plan.seen : undefined),
          done: this.recorder.counts.done,
          failed: this.recorder.counts.failed,
          skipped: this.plan.skipped,
          inFlight: this.inFlight,
        },
        this.pool.status(),
        this.coordinator?.status().workers,
      ),
    );
  }

  private stats(): PipelineStats {
    const stats: PipelineStats = {
      total: this.total ?? this.plan.seen,
      done: this.recorder.counts.done,
      skipped: this.plan.skipped,
      failed: this.recorder.counts.failed,
      failures: this.recorder.failures,
      errors: this.recorder.errors,
      durationMs: Date.now() - this.started,
      keys: this.pool.status().keys,
    };
    if (this.runDir) stats.checkpoint = this.runDir.dir;
    if (this.coordinator) stats.distributed = this.coordinator.status();
    if (this.opts.output) stats.output = this.opts.output;
    return stats;
  }

  /**
   * Records why the run stops. The first reason wins, except `--limit`: reaching it only means no
   * more is sent, so a reason that came with it (no usable key) is the one the run is stopped for.
   */
  private stopFor(error: KeybatchError | undefined): void {
    if (!error) return;
    if (this.stopError === undefined || this.stopError.code === 'LIMIT_REACHED') this.stopError = error;
  }

  /** Why the run stopped: a signal or a key outage before `--limit` (which is the reason only alone). */
  private stopReason(): KeybatchError | undefined {
    const halted = this.halt.error();
    if (halted && this.stopError?.code === 'LIMIT_REACHED') return halted;
    return this.stopError ?? halted;
  }

  /** Whether every item of the input has a record, by the input's known length. */
  private everyItemRecorded(): boolean {
    if (this.fatal || this.halt.aborted) return false;
    const total = this.plan.exhausted ? this.plan.seen : this.total;
    const { done, failed } = this.recorder.counts;
    return total !== undefined && done + failed + this.plan.skipped === total;
  }

  private async finish(): Promise<PipelineResult<R>> {
    await this.coordinator?.refresh();
    this.report();
    const stopped = this.stopReason();
    const keyed = this.keyed;
    // The order of a keyed run's input, once read whole: what `status` and the merge go by.
    if (keyed && this.runDir && this.plan.exhausted) {
      await writeOrder(this.runDir.dir, keyed.order.slots, this.plan.seen);
    }
    // Stopped after the last item had its record (a Ctrl-C as the run ends): it is finished.
    if (stopped && !this.everyItemRecorded()) {
      if (this.plan.exhausted) await this.runDir?.setTotal(this.plan.seen, false);
      throw Object.assign(stopped, { stats: this.stats() }) as KeybatchError & StoppedRun;
    }
    const total = this.plan.exhausted ? this.plan.seen : (this.total ?? this.plan.seen);
    if (this.runDir) await this.runDir.setTotal(total, true);
    if (this.opts.output && this.runDir) {
      const rows = this.opts.keyedRows;
      const merged = await this.runDir.merge(
        this.opts.output,
        total,
        keyed && {
          order: keyed.order.slots,
          slots: keyed.slots.size,
          ...(rows ? { line: (p: number, stored: Buffer) => rows.line(stored, keyed.tags[p], p) } : {}),
        },
      );
      if (merged.missing.length > 0) {
        throw new KeybatchError(
          'CHECKPOINT_INVALID',
          `${this.runDir.dir}: items ${merged.missing.join(', ')} have no record; the output was not written (rerun to resume)`,
        );
      }
    }
    // Everything is checkpointed (and merged): nothing of the run stays in Redis.
    await this.coordinator?.complete();
    if (!this.opts.output && keyed) {
      const inOrder = resultsInOrder(keyed as KeyedState<unknown>, this.results, total);
      for (let p = 0; p < total; p++) this.results[p] = inOrder[p]!;
    }
    if (!this.opts.output) this.results.length = total;
    const stats = this.stats();
    // Not awaited: the pool's close() waits for deliveries, bounded (a hanging webhook never holds the exit).
    void this.pool.notify({
      kind: 'finished',
      message: `run finished: ${stats.done} done, ${stats.failed} failed, ${stats.skipped} skipped`,
      details: { done: stats.done, failed: stats.failed, skipped: stats.skipped, total: stats.total },
    });
    return { results: this.opts.output ? [] : this.results, stats };
  }
}
