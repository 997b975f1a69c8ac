/**
 * The dashboard of a run read from its run directory, read-only, as `keybatch status` reads it
 * (`readRunStatus`), polled; rate and ETA by the progress display's own meter. Another process
 * may be writing the directory: lane files are read with the checkpoint's reader, which skips a
 * torn last line.
 */
import { access, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BATCHES_FILE } from '../batch/index.js';
import { readManifest, runLockHeld } from '../checkpoint/index.js';
import { ProgressMeter, type RunStatus, readRunStatus } from '../pipeline/index.js';
import { readCheckpointCost } from '../prompts/index.js';
import { failuresByCode, RowReader, tokensOf } from './rows.js';
import { readRunHistory } from './run-history.js';
import type { DashboardSource } from './server.js';
import { SummaryTracker } from './summary.js';
import type { RowsPage, RowsQuery } from './types.js';

export interface RunDirSourceOptions {
  /** Time between two reads of the run directory. @default 1000 */
  intervalMs?: number;
}

const NO_POOL = Object.freeze({ keys: [], blocked: false });

/**
 * How long the run has gone, by its own files: from the manifest's `createdAt` to now while it
 * runs, or to the last write of its checkpoint (or output) once complete. Undefined if unknown.
 */
async function runElapsedMs(status: RunStatus): Promise<number | undefined> {
  const manifest = await readManifest(join(status.checkpoint, 'manifest.json')).catch(() => undefined);
  const started = manifest ? Date.parse(manifest.createdAt) : Number.NaN;
  if (!Number.isFinite(started)) return undefined;
  if (!status.complete) return Math.max(0, Date.now() - started);
  const names = await readdir(status.checkpoint).catch(() => [] as string[]);
  const paths = [
    ...names.map((name) => join(status.checkpoint, name)),
    ...(status.outputWritten ? [status.output] : []),
  ];
  let last = started;
  for (const path of paths) {
    const info = await stat(path).catch(() => undefined);
    if (info?.isFile() && !path.endsWith('lock')) last = Math.max(last, info.mtimeMs);
  }
  return last - started;
}

/**
 * A run is finished once its checkpoint is complete and its output written. A run marks its
 * checkpoint complete before it merges the output: while it still holds the directory's lock, the
 * output is coming (ending the page's stream then would leave it the checkpoint's rows). A
 * complete run whose writer is gone is finished, output or not (it may have been moved since).
 */
async function finished(status: RunStatus): Promise<boolean> {
  if (!status.complete) return false;
  if (status.outputWritten) return true;
  // (A lock that cannot be read now, caught mid-write, is held: the next read decides.)
  return !(await runLockHeld(status.checkpoint).catch(() => true));
}

export class RunDirSource implements DashboardSource {
  readonly tracker: SummaryTracker;
  private readonly reader: RowReader;
  private meter = new ProgressMeter();
  private base = { done: 0, failed: 0 };
  private status: RunStatus;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** The checkpoint's cost when it last changed, and what reading it took. */
  private cost: { usd: number | null; records: number; at: number; tookMs: number } | undefined;

  private constructor(
    private readonly output: string,
    first: RunStatus,
    private readonly intervalMs: number,
  ) {
    this.status = first;
    this.base = { done: first.done, failed: first.failed };
    this.tracker = new SummaryTracker({
      mode: 'read-only',
      output,
      checkpoint: first.checkpoint,
      configPath: undefined,
    });
    this.reader = new RowReader(() => ({
      output,
      checkpoint: this.status.checkpoint,
      merged: this.status.complete && this.status.outputWritten,
    }));
  }

  /** Reads the run directory of `output` once (no checkpoint there is `INPUT_INVALID`), then polls it. */
  static async open(output: string, options: RunDirSourceOptions = {}): Promise<RunDirSource> {
    const status = await readRunStatus(output);
    const source = new RunDirSource(output, status, options.intervalMs ?? 1000);
    const manifest = await readManifest(join(status.checkpoint, 'manifest.json')).catch(() => undefined);
    const since = manifest ? Date.parse(manifest.createdAt) : 0;
    source.tracker.seedHistory(await readRunHistory(status.checkpoint, since), status.complete);
    await source.read();
    source.schedule();
    return source;
  }

  /** The next read: `intervalMs` after this one ended, or longer when reading takes long (a large run). */
  private schedule(lastReadMs = 0): void {
    if (this.closed) return;
    this.timer = setTimeout(
      () => {
        const started = Date.now();
        this.read()
          .catch(() => {
            // A directory caught mid-rewrite (a merge, a fresh start) is read again next time.
          })
          .finally(() => this.schedule(Date.now() - started));
      },
      Math.max(this.intervalMs, lastReadMs * 4),
    );
  }

  private async read(): Promise<void> {
    const status = await readRunStatus(this.output);
    if (status.done < this.base.done) {
      // Started over (--fresh): measure the rate from here.
      this.meter = new ProgressMeter();
      this.base = { done: status.done, failed: status.failed };
    }
    this.status = status;
    // The meter counts from zero: what was there when we started counts as skipped.
    const progress = this.meter.snapshot(
      {
        total: status.total,
        done: status.done - this.base.done,
        failed: Math.max(0, status.failed - this.base.failed),
        skipped: this.base.done + this.base.failed,
        inFlight: 0,
      },
      NO_POOL,
    );
    const index = await this.reader.current();
    const elapsedMs = (await runElapsedMs(status)) ?? progress.elapsedMs;
    this.tracker.update(
      { ...progress, done: status.done, failed: status.failed, skipped: 0, elapsedMs },
      undefined,
      tokensOf(index),
      await this.checkpointCost(status),
    );
    this.tracker.setFailures(failuresByCode(index));
    this.tracker.end((await finished(status)) ? 'finished' : 'running');
  }

  /**
   * What the checkpoint's rows cost (Batch API prices for a Batch API run), read again when its
   * record count changed, but no more often than ten times what the last read took.
   */
  private async checkpointCost(status: RunStatus): Promise<number | null> {
    const records = status.done + status.failed;
    const now = Date.now();
    const last = this.cost;
    if (last && (last.records === records || now - last.at < last.tookMs * 10)) return last.usd;
    const batch = await access(join(status.checkpoint, BATCHES_FILE)).then(
      () => true,
      () => false,
    );
    const cost = await readCheckpointCost(status.checkpoint, undefined, { batch });
    this.cost = { usd: cost.usd, records, at: now, tookMs: Date.now() - now };
    return cost.usd;
  }

  rows(query: RowsQuery): Promise<RowsPage> {
    return this.reader.page(query);
  }

  scrub(text: string): string {
    return text;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }
}
