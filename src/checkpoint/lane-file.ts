/**
 * Finding and reading lane files: large blocks, lines split by hand, each line read by `ParsedLine`.
 * A bad line costs only its own items, which a rerun redoes: a bad last line is torn (a crash cut
 * it), a bad line with anything after it is corrupt (counted, and the first one named).
 */

import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ParsedLine } from './record.js';

const BLOCK_SIZE = 4 * 1024 * 1024;
const NEWLINE = 0x0a;
const LANE_FILE = /^worker-(\d+)\.jsonl$/;

export interface LaneFile {
  lane: number;
  path: string;
}

export function laneFileName(lane: number): string {
  return `worker-${lane}.jsonl`;
}

/** Every `worker-<lane>.jsonl` in `dir`, by lane id. */
export async function listLaneFiles(dir: string): Promise<LaneFile[]> {
  const names = await readdir(dir);
  const files: LaneFile[] = [];
  for (const name of names) {
    const match = LANE_FILE.exec(name);
    if (match) files.push({ lane: Number(match[1]), path: join(dir, name) });
  }
  return files.sort((a, b) => a.lane - b.lane);
}

/**
 * Called for each good record. `line` holds the parsed parts; its offsets index `buf`, and
 * `bufOffset` is the file position of `buf[0]`. Both are only valid during the call.
 */
export type RecordVisitor = (line: ParsedLine, buf: Buffer, bufOffset: number, lineNo: number) => void;

export interface LaneFileStats {
  lines: number;
  /** 1 if the last line is cut short (a crash), else 0. */
  tornLines: number;
  /** Bad lines with something after them (skipped). */
  corruptLines: number;
  /** The first corrupt line: its number and why it was refused. */
  firstCorrupt?: { lineNo: number; problem: string };
}

/** One line naming the first corrupt line of `path` and how many there are. */
export function describeCorrupt(path: string, stats: LaneFileStats): string {
  const first = stats.firstCorrupt;
  const where = first ? ` (first: line ${first.lineNo}, it ${first.problem})` : '';
  return `${path}: ${stats.corruptLines} corrupt line(s) skipped${where}; their items are redone`;
}

/** Reads one lane file start to end, calling `visit` for each good record; bad lines are skipped and counted. */
export async function readLaneFile(path: string, visit: RecordVisitor): Promise<LaneFileStats> {
  const handle = await open(path, 'r');
  const line = new ParsedLine();
  let buf = Buffer.allocUnsafe(BLOCK_SIZE);
  /** File position of buf[0]; buf[0, have) holds file bytes. */
  let bufOffset = 0;
  let have = 0;
  let lineNo = 0;
  let lines = 0;
  let corruptLines = 0;
  let firstCorrupt: LaneFileStats['firstCorrupt'];
  // A bad line is only torn if nothing follows it; until we know, remember it.
  let pending: { lineNo: number; problem: string } | undefined;

  const take = (start: number, end: number, terminated: boolean) => {
    lineNo++;
    if (start === end) return;
    if (pending) {
      corruptLines++;
      firstCorrupt ??= pending;
      pending = undefined;
    }
    if (line.parse(buf, start, end, terminated)) {
      lines++;
      visit(line, buf, bufOffset, lineNo);
    } else {
      pending = { lineNo, problem: line.problem };
    }
  };

  try {
    for (;;) {
      if (have === buf.length) {
        // One line longer than the buffer: grow it.
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, have);
        buf = bigger;
      }
      const { bytesRead } = await handle.read(buf, have, buf.length - have, bufOffset + have);
      if (bytesRead === 0) break;
      const scanFrom = have;
      have += bytesRead;
      const view = buf.subarray(0, have);
      let start = 0;
      let nl = view.indexOf(NEWLINE, scanFrom);
      while (nl !== -1) {
        take(start, nl, true);
        start = nl + 1;
        nl = view.indexOf(NEWLINE, start);
      }
      if (start > 0) {
        buf.copy(buf, 0, start, have);
        bufOffset += start;
        have -= start;
      }
    }
    if (have > 0) take(0, have, false);
  } finally {
    await handle.close();
  }
  const stats: LaneFileStats = { lines, tornLines: pending ? 1 : 0, corruptLines };
  if (firstCorrupt) stats.firstCorrupt = firstCorrupt;
  return stats;
}
