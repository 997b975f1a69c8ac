/**
 * The chart of a run read from its directory: the points runPrompts wrote to `progress.jsonl`
 * while it ran (`{ run, t, done, failed }`, counts of that run), turned into the rates the live
 * chart shows. Lines older than the checkpoint's start (an earlier run, before `--fresh`) and
 * lines that do not parse (a torn last line) are left out. A run's first line is measured from the
 * run's start (its `run`, where its counts were zero), so a run shorter than two lines a second
 * apart still has its point.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { historyPoint, itemTotals } from './summary.js';
import type { HistoryPoint } from './types.js';

/** The file runPrompts appends its progress to (src/prompts/progress-history.ts). */
const PROGRESS_FILE = 'progress.jsonl';

interface Line {
  run: number;
  t: number;
  done: number;
  failed: number;
}

function parse(text: string): Line | undefined {
  try {
    const value = JSON.parse(text) as Partial<Line>;
    const ok = [value.run, value.t, value.done, value.failed].every(
      (n) => typeof n === 'number' && Number.isFinite(n),
    );
    return ok ? (value as Line) : undefined;
  } catch {
    return undefined;
  }
}

/** The chart points of the run in `checkpoint` since `sinceMs` (its manifest's `createdAt`). */
export async function readRunHistory(checkpoint: string, sinceMs: number): Promise<HistoryPoint[]> {
  const text = await readFile(join(checkpoint, PROGRESS_FILE), 'utf8').catch(() => '');
  const points: HistoryPoint[] = [];
  let previous: Line | undefined;
  for (const source of text.split('\n')) {
    const line = source === '' ? undefined : parse(source);
    if (!line || line.t < sinceMs) continue;
    // A run's first line is measured from its start; a resumed run counts from zero again.
    const from = previous?.run === line.run ? previous : { run: line.run, t: line.run, done: 0, failed: 0 };
    const point = historyPoint(itemTotals(from, from.t), itemTotals(line, line.t));
    if (point) points.push(point);
    else if (previous?.run === line.run) continue;
    previous = line;
  }
  return points;
}
