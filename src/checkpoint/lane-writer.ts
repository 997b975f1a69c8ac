/**
 * Appending one lane's records to its `worker-<lane>.jsonl`. One chunk's records go out as one
 * buffer in one write, append-only: a `kill -9` leaves at most one torn last line, which the page
 * cache keeps without fsync. Before the first append, a torn last line left by a crash is cut off
 * (the scan ignored it anyway), so it can neither glue onto the next record nor end up mid-file.
 */

import { closeSync, fstatSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { type LaneRecord, ParsedLine, serializeRecord } from './record.js';

const NEWLINE = 0x0a;
const TAIL_BLOCK = 64 * 1024;

export interface LaneWriter {
  readonly lane: number;
  readonly path: string;
  /** Writes the records of one completed chunk, all at once. Throws before writing anything if one cannot be serialised. */
  append(records: ReadonlyArray<LaneRecord>): void;
  /** Writes lines already encoded (`encodeResults`), all at once. */
  appendEncoded(bytes: Uint8Array): void;
  close(): void;
}

export class FileLaneWriter implements LaneWriter {
  readonly lane: number;
  readonly path: string;
  #fd: number | undefined;
  readonly #onClose: () => void;

  constructor(lane: number, path: string, onClose: () => void = () => {}) {
    this.lane = lane;
    this.path = path;
    this.#onClose = onClose;
    const fd = openSync(path, 'a+');
    try {
      repairTail(fd);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    this.#fd = fd;
  }

  append(records: ReadonlyArray<LaneRecord>): void {
    const fd = this.#fd;
    if (fd === undefined) throw new Error(`Lane writer for ${this.path} is closed`);
    if (records.length === 0) return;
    let text = '';
    for (const record of records) text += serializeRecord(record);
    writeAll(fd, Buffer.from(text, 'utf8'));
  }

  appendEncoded(bytes: Uint8Array): void {
    const fd = this.#fd;
    if (fd === undefined) throw new Error(`Lane writer for ${this.path} is closed`);
    if (bytes.length > 0) writeAll(fd, bytes);
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
