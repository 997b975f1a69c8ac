/**
 * Appending one lane's records to its `worker-<lane>.jsonl`. One chunk's records go out as one
 * buffer in one write, append-only: a `kill -9` leaves at most one torn last line, which the page
 * cache keeps without fsync. Before the first append, a torn last line left by a crash is cut off
 * (the scan ignored it anyway), so it can neither glue onto the next record nor end up mid-file.
 * A failed append (ENOSPC mid-write) is rolled back: the file is cut to its length before it, so
 * a retry never appends after partial bytes, and the error is KeybatchError CHECKPOINT_WRITE.
 */

import { closeSync, fstatSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { type LaneRecord, ParsedLine, serializeRecord } from './record.js';
import { checkpointWriteError } from './write-error.js';

const NEWLINE = 0x0a;
const TAIL_BLOCK = 64 * 1024;

export interface LaneWriter {
  readonly lane: number;
  readonly path: string;
  /**
   * Writes the records of one completed chunk, all at once. Throws before writing anything if one
   * cannot be serialised; a failed write is undone (the file keeps its length) and throws
   * KeybatchError CHECKPOINT_WRITE naming the file.
   */
  append(records: ReadonlyArray<LaneRecord>): void;
  /** Writes lines already encoded (`encodeResults`), all at once, as `append` does. */
  appendEncoded(bytes: Uint8Array): void;
  close(): void;
}

export class FileLaneWriter implements LaneWriter {
  readonly lane: number;
  readonly path: string;
  #fd: number | undefined;
  /** The file's length after the last good append: where a failed one is cut back to. */
  #size = 0;
  /** Set when a failed append could not be undone: the writer refuses further appends. */
  #broken: Error | undefined;
  readonly #onClose: () => void;

  constructor(lane: number, path: string, onClose: () => void = () => {}) {
    this.lane = lane;
    this.path = path;
    this.#onClose = onClose;
    let fd: number;
    try {
      fd = openSync(path, 'a+');
    } catch (error) {
      throw checkpointWriteError(path, error);
    }
    try {
      repairTail(fd);
      this.#size = fstatSync(fd).size;
    } catch (error) {
      closeSync(fd);
      throw checkpointWriteError(path, error);
    }
    this.#fd = fd;
  }

  append(records: ReadonlyArray<LaneRecord>): void {
    this.#open();
    if (records.length === 0) return;
    let text = '';
    for (const record of records) text += serializeRecord(record);
    this.#write(Buffer.from(text, 'utf8'));
  }

  appendEncoded(bytes: Uint8Array): void {
    this.#open();
    if (bytes.length > 0) this.#write(bytes);
  }

  #open(): number {
    if (this.#broken) throw this.#broken;
    if (this.#fd === undefined) throw new Error(`Lane writer for ${this.path} is closed`);
    return this.#fd;
  }

  /** One append, all or nothing. */
  #write(bytes: Uint8Array): void {
    const fd = this.#open();
    try {
      writeAll(fd, bytes);
    } catch (error) {
      try {
        ftruncateSync(fd, this.#size);
      } catch {
        // Partial bytes stay: the next open cuts a torn last line, a scan skips a corrupt one.
        this.#broken = checkpointWriteError(this.path, error);
        throw this.#broken;
      }
      throw checkpointWriteError(this.path, error);
    }
    this.#size += bytes.length;
  }

  close(): void {
    const fd = this.#fd;
    if (fd === undefined) return;
    this.#fd = undefined;
    closeSync(fd);
    this.#onClose();
  }
}

function writeAll(fd: number, buf: Uint8Array): void {
  let written = 0;
  while (written < buf.length) written += writeSync(fd, buf, written, buf.length - written);
}

function readFully(fd: number, buf: Buffer, position: number): void {
  let done = 0;
  while (done < buf.length) {
    const n = readSync(fd, buf, done, buf.length - done, position + done);
    if (n === 0) throw new Error(`Unexpected end of file while reading fd ${fd}`);
    done += n;
  }
}

/** Makes the file end in '\n' after its last good record: a torn last line is cut off. */
function repairTail(fd: number): void {
  const size = fstatSync(fd).size;
  if (size === 0) return;
  const last = Buffer.alloc(1);
  readFully(fd, last, size - 1);
  const terminated = last[0] === NEWLINE;
  const lineEnd = terminated ? size - 1 : size;
  const { start, bytes } = readLastLine(fd, lineEnd);
  if (bytes.length === 0) {
    if (!terminated) writeAll(fd, Buffer.from('\n'));
    return;
  }
  const good = new ParsedLine().parse(bytes, 0, bytes.length, terminated);
  if (!good) ftruncateSync(fd, start);
  else if (!terminated) writeAll(fd, Buffer.from('\n'));
}

/** The bytes from just after the last '\n' before `end` up to `end`. */
function readLastLine(fd: number, end: number): { start: number; bytes: Buffer } {
  const blocks: Buffer[] = [];
  let pos = end;
  while (pos > 0) {
    const length = Math.min(TAIL_BLOCK, pos);
    const block = Buffer.allocUnsafe(length);
    readFully(fd, block, pos - length);
    const nl = block.lastIndexOf(NEWLINE);
    if (nl !== -1) {
      blocks.unshift(block.subarray(nl + 1));
      pos = pos - length + nl + 1;
      break;
    }
    blocks.unshift(block);
    pos -= length;
  }
  return { start: pos, bytes: Buffer.concat(blocks) };
}
