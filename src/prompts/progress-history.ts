/**
 * The run's progress over time, kept in `<run dir>/progress.jsonl` so the dashboard of a finished
 * run (`keybatch ui <output>`) draws the run's own chart, not a flat line from when it opened.
 * One line per progress tick, at most one a second: `{"run":<start ms>,"t":<ms>,"done":N,"failed":M}`
 * (counts of this run). Appending is best effort: a full disk never stops a run over its chart.
 */
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';

export const PROGRESS_FILE = 'progress.jsonl';
/** Least time between two lines: the dashboard's chart has one point a second at most. */
const LINE_MS = 1000;

export class ProgressHistory {
  private last = 0;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly runDir: string,
    private readonly run: number,
  ) {}

  /** Counts not written yet (a tick within a second of the last line). */
  private held: { done: number; failed: number; t: number } | undefined;

  /** Appends this run's counts, unless the last line is less than a second old (then they wait for `finish`). */
  record(done: number, failed: number, now = Date.now()): void {
    if (now - this.last < LINE_MS) {
      this.held = { done, failed, t: now };
      return;
    }
    this.write(done, failed, now);
  }

  /** Writes the last counts held back, and resolves when every line is written (or given up). */
  finish(): Promise<void> {
    if (this.held) this.write(this.held.done, this.held.failed, this.held.t);
    return this.writing;
  }

  private write(done: number, failed: number, t: number): void {
    this.last = t;
    this.held = undefined;
    const line = `${JSON.stringify({ run: this.run, t, done, failed })}\n`;
    this.writing = this.writing
      .then(() => appendFile(join(this.runDir, PROGRESS_FILE), line))
      .catch(() => {});
  }
}
