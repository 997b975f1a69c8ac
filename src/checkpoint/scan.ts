/** Reading a run directory back: which items are done, which failed, and the saved results. */

import type { SerializedError } from '../errors.js';
import { DoneSet } from './done-set.js';
import { describeCorrupt, listLaneFiles, readLaneFile } from './lane-file.js';
import { KIND_RESULT } from './record.js';

export interface ScanResult {
  /** Indices with a success record. */
  done: DoneSet;
  /** Indices with no success whose latest failure record is this (a rerun retries them). */
  failed: Map<number, SerializedError>;
  /** Good records read, over all lane files. */
  lines: number;
  /** Unreadable last lines (cut by a crash): ignored, their items are redone. */
  tornLines: number;
  /** Unreadable lines with more after them (damage, or a failed write of an older version): skipped, their items are redone. */
  corruptLines: number;
  /** One line per lane file with corrupt lines, naming the file and its first bad line. */
  corrupt: string[];
  /** Highest lane id with a file, -1 if none. */
  maxLane: number;
}

/** Reads every `worker-*.jsonl` in `dir`, whatever their number and lane ids. */
export async function scanRunDir(dir: string): Promise<ScanResult> {
  const done = new DoneSet();
  const failed = new Map<number, SerializedError>();
  let lines = 0;
  let tornLines = 0;
  let corruptLines = 0;
  const corrupt: string[] = [];
  let maxLane = -1;
  for (const file of await listLaneFiles(dir)) {
    maxLane = Math.max(maxLane, file.lane);
    const stats = await readLaneFile(file.path, (line) => {
      if (line.kind === KIND_RESULT) done.add(line.i);
      else failed.set(line.i, line.error!);
    });
    lines += stats.lines;
    tornLines += stats.tornLines;
    corruptLines += stats.corruptLines;
    if (stats.corruptLines > 0) corrupt.push(describeCorrupt(file.path, stats));
  }
  // A success anywhere supersedes any failure of the same item.
  for (const i of failed.keys()) if (done.has(i)) failed.delete(i);
  return { done, failed, lines, tornLines, corruptLines, corrupt, maxLane };
}

/**
 * Calls `onResult(i, value)` for every success record in `dir`, with the parsed result, in file
 * order (lane by lane); an item recorded twice is reported twice, the later record last.
 * For an in-memory run that resumes: fill the results array from the checkpoint.
 * A record whose result is not valid JSON (damage) is skipped: its item is not reported.
 * Resolves to the number of records reported.
 */
export async function readResults(
  dir: string,
  onResult: (i: number, value: unknown) => void,
): Promise<number> {
  let count = 0;
  for (const file of await listLaneFiles(dir)) {
    await readLaneFile(file.path, (line, buf) => {
      if (line.kind !== KIND_RESULT) return;
      let value: unknown;
      try {
        value = JSON.parse(buf.toString('utf8', line.valueStart, line.valueEnd));
      } catch {
        return;
      }
      count++;
      onResult(line.i, value);
    });
  }
  return count;
}
