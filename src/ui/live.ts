/**
 * The dashboard of a run in this process: fed by the run's `onProgress` snapshots with the pool's
 * `status()` (what the progress display shows), its rows and failures read from the run's checkpoint.
 */
import { existsSync } from 'node:fs';
import type { KeyPool } from '../keys/index.js';
import { defaultRunDir, type Progress } from '../pipeline/index.js';
import { failuresByCode, RowReader } from './rows.js';
import type { DashboardSource } from './server.js';
import { SummaryTracker } from './summary.js';

/** Reads of the failures at the run's end, for a file being replaced at that moment. */
const END_READS = 3;

import type { RowsPage, RowsQuery } from './types.js';

export interface LiveSourceOptions {
  output: string;
  /** The run directory. @default `<output>.keybatch` */
  checkpoint?: string;
}

export class LiveSource implements DashboardSource {
  readonly tracker: SummaryTracker;
  private readonly reader: RowReader;
  private readonly output: string;
  private reading = false;
  private last: Progress = emptyProgress();
  /** How the run ended (set by `end`, before the tracker says so). */
  private ended: 'finished' | 'stopped' | undefined;

  constructor(
    private readonly pool: KeyPool,
    options: LiveSourceOptions,
  ) {
    this.output = options.output;
    const checkpoint = options.checkpoint ?? defaultRunDir(options.output);
    this.tracker = new SummaryTracker({
      mode: 'live',
      output: options.output,
      checkpoint,
      configPath: pool.configPath,
    });
    this.reader = new RowReader(() => ({
      output: this.output,
      checkpoint,
      merged: this.ended === 'finished' && existsSync(this.output),
    }));
    this.tracker.update(emptyProgress(), pool.status());
  }

  /** For the run's `onProgress`. */
  readonly onProgress = (progress: Progress): void => {
    this.last = progress;
    this.tracker.update(progress, this.pool.status());
    void this.refreshFailures(false);
  };

  /** The run ended; failures are read once more from the checkpoint (or the output). */
  async end(state: 'finished' | 'stopped'): Promise<void> {
    this.tracker.update(this.last, this.pool.status());
    // The failures are read before the run is marked ended: the page's event stream sends the
    // ended summary and closes, so what is set after it never reaches the page. No report follows
    // the end: a read that fails (a file being replaced) is tried again here.
    this.ended = state;
    for (let tries = 0; tries < END_READS; tries++) if (await this.refreshFailures(true)) break;
    this.tracker.end(state);
  }

  /** Whether the failures were read. */
  private async refreshFailures(fresh: boolean): Promise<boolean> {
    if (this.reading && !fresh) return false;
    this.reading = true;
    try {
      this.tracker.setFailures(failuresByCode(await this.reader.current(fresh)));
      return true;
    } catch {
      // A checkpoint being rewritten (a merge) is read again on the next report.
      return false;
    } finally {
      this.reading = false;
    }
  }

  rows(query: RowsQuery): Promise<RowsPage> {
    return this.reader.page(query);
  }

  scrub(text: string): string {
    return this.pool.scrub(text);
  }
}

function emptyProgress(): Progress {
  return {
    total: undefined,
    done: 0,
    failed: 0,
    skipped: 0,
    inFlight: 0,
    rate: 0,
    etaMs: undefined,
    tokens: 0,
    keys: { ready: 0, cooling: 0, exhausted: 0, invalid: 0 },
    blocked: false,
    elapsedMs: 0,
  };
}
