/**
 * Finding and reading lane files: large blocks, lines split by hand, each line read by `ParsedLine`.
 * A bad last line is torn (a crash cut it; ignored, the item is redone); a bad line with anything
 * after it is corruption and stops the read with CHECKPOINT_INVALID naming the file and line.
 */

import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { KeybatchError } from '../errors.js';
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
  tornLines: number;
}

export function invalidLine(path: string, lineNo: number, problem: string): KeybatchError {
  return new KeybatchError(
    'CHECKPOINT_INVALID',
    `Checkpoint file ${path} line ${lineNo} is not a valid record (it ${problem}); ` +
      'delete the file or rerun with --fresh / resume: false',
  );
}

/** Reads one lane file start to end, calling `visit` for each good record. */
export async function readLaneFile(path: string, visit: RecordVisitor): Promise<LaneFileStats> {
  const handle = await open(path, 'r');
  const line = new ParsedLine();
  let buf = Buffer.allocUnsafe(BLOCK_SIZE);
  /** File position of buf[0]; buf[0, have) holds file bytes. */
  let bufOffset = 0;
  let have = 0;
  let lineNo = 0;
  let lines = 0;
  // A bad line is only torn if nothing follows it; until we know, remember it.
  let pending: { lineNo: number; problem: string } | undefined;

  const take = (start: number, end: number, terminated: boolean) => {
    lineNo++;
    if (start === end) return;
    if (pending) throw invalidLine(path, pending.lineNo, pending.problem);
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
  return { lines, tornLines: pending ? 1 : 0 };
}
