/**
 * The ordered merge: every lane file into one output, one line per input item, in input order.
 *
 * Pass 1 reads the lane files into typed arrays indexed by item (which file, where the value is,
 * how long: 16 bytes per item). A success beats any failure, and among equals the later line wins.
 * Pass 2 copies, for i = 0..total-1, the result's bytes as written (never re-serialised) through a
 * read-ahead window per lane file into a buffered writer, to `<output>.tmp-<pid>`, renamed into
 * place at the end: an existing output is only ever replaced by a complete new one. A failed write
 * (a full disk) removes the temporary file and is KeybatchError CHECKPOINT_WRITE; the temporary
 * files of a killed merge are removed by the next run (`removeStaleMergeTemps`).
 */

import { type FileHandle, open, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { KeybatchError } from '../errors.js';
import { listLaneFiles, readLaneFile } from './lane-file.js';
import { isProcessAlive } from './lock.js';
import { KIND_RESULT, parseErrorPayload } from './record.js';
import { checkpointWriteError } from './write-error.js';

export interface MergeResult {
  /** Lines written to the output (results and error lines); 0 if it was not written. */
  written: number;
  /** Items whose line is an error line (they failed and never succeeded). */
  failed: number;
  /** The first (at most 20) indices below `total` with no record at all; non-empty means no output was written. */
  missing: number[];
  /** How many indices below `total` have no record at all. */
  missingCount: number;
}

const MAX_MISSING_LISTED = 20;
const OUTPUT_BUFFER = 1024 * 1024;
const MAX_WINDOW = 1024 * 1024;
const MIN_WINDOW = 64 * 1024;
/** The read-ahead windows of all lane files together stay under this. */
const WINDOWS_BUDGET = 64 * 1024 * 1024;

/**
 * A content-keyed run's merge: lane files record results by slot; output line p is slot
 * `order[p]`'s record, passed through `line` (e.g. to put the position's own id in the row).
 */
export interface MergeLayout {
  order: Uint32Array;
  /** Slots in the run directory (every slot is below it). */
  slots: number;
  /** The output line of position p from its slot's record (without '\n'); undefined: as stored. */
  line?: (position: number, stored: Buffer) => Buffer | undefined;
}

/** Where each item's chosen record is. `file[i]`: 0 none, k+1 success in file k, -(k+1) failure in file k. */
interface Locations {
  file: Int32Array;
  offset: Float64Array;
  length: Uint32Array;
}

/**
 * Writes `output` from the lane files of `dir` (see the file comment). `beforeRename` is called with
 * the complete temporary file just before it is renamed over `output` (e.g. to record its size and
 * modification time, which the rename keeps); if it throws, nothing is replaced.
 */
export async function mergeRunDir(
  dir: string,
  output: string,
  total: number,
  beforeRename?: (temp: string) => Promise<void>,
  layout?: MergeLayout,
): Promise<MergeResult> {
  if (!Number.isSafeInteger(total) || total < 0) {
    throw new RangeError(`merge total must be an integer >= 0, got ${String(total)}`);
  }
  const files = (await listLaneFiles(dir)).map((f) => f.path);
  const where = await locate(files, layout ? layout.slots : total);
  const slotOf = layout ? (i: number) => layout.order[i]! : (i: number) => i;

  let failed = 0;
  let missingCount = 0;
  const missing: number[] = [];
  for (let i = 0; i < total; i++) {
    const f = where.file[slotOf(i)]!;
    if (f < 0) failed++;
    else if (f === 0) {
      missingCount++;
      if (missing.length < MAX_MISSING_LISTED) missing.push(i);
    }
  }
  if (missingCount > 0) return { written: 0, failed, missing, missingCount };

  const temp = mergeTemp(output, process.pid);
  try {
    await writeOrdered(files, where, total, temp, layout);
    await beforeRename?.(temp);
    await rename(temp, output);
  } catch (error) {
    await rm(temp, { force: true });
    const syscall = (error as NodeJS.ErrnoException).syscall;
    if (syscall === 'read') throw error;
    throw checkpointWriteError(output, error, 'the checkpoint is kept whole', 'rerun to write the output');
  }
  return { written: total, failed, missing, missingCount };
}

function mergeTemp(output: string, pid: number): string {
  return `${output}.tmp-${pid}`;
}

/**
 * Removes `<output>.tmp-<pid>` files of merges that cannot be running: their process is gone, or
 * it is this one (a pid reused by a later process). Call it holding the run directory's lock.
 */
export async function removeStaleMergeTemps(output: string): Promise<void> {
  const prefix = `${basename(output)}.tmp-`;
  let names: string[];
  try {
    names = await readdir(dirname(output));
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = name.slice(prefix.length);
    if (!/^\d+$/.test(pid)) continue;
    if (Number(pid) === process.pid || !isProcessAlive(Number(pid))) {
      await rm(join(dirname(output), name), { force: true });
    }
  }
}

/** Pass 1. */
async function locate(files: string[], total: number): Promise<Locations> {
  const where: Locations = {
    file: new Int32Array(total),
    offset: new Float64Array(total),
    length: new Uint32Array(total),
  };
  for (let k = 0; k < files.length; k++) {
    const success = k + 1;
    await readLaneFile(files[k]!, (line, _buf, bufOffset) => {
      const i = line.i;
      if (i >= total) return;
      if (line.kind === KIND_RESULT) where.file[i] = success;
      else if (where.file[i]! > 0) return;
      else where.file[i] = -success;
      where.offset[i] = bufOffset + line.valueStart;
      where.length[i] = line.valueEnd - line.valueStart;
    });
  }
  return where;
}

/** A read-ahead window over one lane file. */
class Window {
  buf: Buffer;
  /** File position of buf[0]; buf[0, have) holds file bytes. */
  start = 0;
  have = 0;

  constructor(
    readonly handle: FileHandle,
    size: number,
  ) {
    this.buf = Buffer.allocUnsafe(size);
  }

  /** Refills so that [offset, offset + length) is inside; the caller checked it was not. */
  async fill(offset: number, length: number): Promise<void> {
    if (length > this.buf.length) this.buf = Buffer.allocUnsafe(length);
    this.start = offset;
    this.have = 0;
    while (this.have < length) {
      const { bytesRead } = await this.handle.read(
        this.buf,
        this.have,
        this.buf.length - this.have,
        offset + this.have,
      );
      if (bytesRead === 0) break;
      this.have += bytesRead;
    }
  }
}

/** Pass 2. */
async function writeOrdered(
  files: string[],
  where: Locations,
  total: number,
  temp: string,
  layout?: MergeLayout,
): Promise<void> {
  const windowSize = Math.max(
    MIN_WINDOW,
    Math.min(MAX_WINDOW, Math.floor(WINDOWS_BUDGET / Math.max(1, files.length))),
  );
  const windows: Array<Window | undefined> = files.map(() => undefined);
  const out = await open(temp, 'w');
  const outBuf = Buffer.allocUnsafe(OUTPUT_BUFFER);
  let used = 0;
  const flush = async () => {
    let done = 0;
    while (done < used) done += (await out.write(outBuf, done, used - done)).bytesWritten;
    used = 0;
  };
  const push = async (bytes: Uint8Array) => {
    if (used + bytes.length > outBuf.length) {
      await flush();
      if (bytes.length > outBuf.length) {
        let done = 0;
        while (done < bytes.length) done += (await out.write(bytes, done, bytes.length - done)).bytesWritten;
        return;
      }
    }
    outBuf.set(bytes, used);
    used += bytes.length;
  };

  try {
    for (let p = 0; p < total; p++) {
      const i = layout ? layout.order[p]! : p;
      const f = where.file[i]!;
      const k = Math.abs(f) - 1;
      const offset = where.offset[i]!;
      const length = where.length[i]!;
      let w = windows[k];
      if (w === undefined) {
        w = new Window(await open(files[k]!, 'r'), windowSize);
        windows[k] = w;
      }
      if (offset < w.start || offset + length > w.start + w.have) {
        await w.fill(offset, length);
        if (w.have < length) throw changedWhileMerging(files[k]!);
      }
      const from = offset - w.start;
      const own = layout?.line;
      if (own) {
        const stored =
          f > 0
            ? w.buf.subarray(from, from + length)
            : Buffer.from(errorLine(w.buf, from, from + length, files[k]!).slice(0, -1), 'utf8');
        await push(own(p, stored) ?? stored);
        await push(NEWLINE);
      } else if (f > 0) {
        // Hot path: no await unless the output buffer is full.
        if (used + length + 1 <= outBuf.length) {
          w.buf.copy(outBuf, used, from, from + length);
          used += length;
          outBuf[used++] = 0x0a;
        } else {
          await push(w.buf.subarray(from, from + length));
          await push(NEWLINE);
        }
      } else {
        await push(Buffer.from(errorLine(w.buf, from, from + length, files[k]!), 'utf8'));
      }
    }
    await flush();
  } finally {
    await out.close();
    for (const w of windows) await w?.handle.close();
  }
}

const NEWLINE = Buffer.from('\n');

function changedWhileMerging(file: string): KeybatchError {
  return new KeybatchError('CHECKPOINT_INVALID', `Checkpoint file ${file} changed while it was being merged`);
}

function errorLine(buf: Buffer, start: number, end: number, file: string): string {
  const e = parseErrorPayload(buf, start, end);
  if (!e) throw changedWhileMerging(file);
  if (e.output !== undefined) return `${JSON.stringify(e.output)}\n`;
  const error: { code: string | null; message: string; status?: number } = {
    code: e.code ?? null,
    message: e.message,
  };
  if (e.status !== undefined) error.status = e.status;
  return `${JSON.stringify({ error })}\n`;
}
