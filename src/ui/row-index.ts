/**
 * An index of a run's rows, read-only: where each item's row is (file and byte range), whether it
 * failed and with which code, and its tokens. Built from the merged output once the run is
 * complete, else from the checkpoint's lane files with the checkpoint's own reader (a torn last
 * line, as a writer in another process leaves it, is skipped). Rows are read back by byte range.
 */
import { open, stat } from 'node:fs/promises';
import { finalErrorCode, KIND_RESULT, listLaneFiles, readLaneFile } from '../checkpoint/index.js';
import type { SerializedError } from '../errors.js';

/** Where one item's row is. */
export interface IndexEntry {
  i: number;
  /** Index into `RowIndex.files`. */
  file: number;
  start: number;
  end: number;
  /** A lane-file failure record (`e`): the row is its `output`, or `{ error }`. */
  failureRecord: boolean;
  /** The error code of a failed item (a failure record, or a row with `error`). */
  code: string | undefined;
  /** `usage.total_tokens` of the row, 0 when it has none. */
  tokens: number;
}

export interface RowIndex {
  from: 'output' | 'checkpoint' | 'none';
  files: string[];
  /** By item index, one entry per item (the record that counts). */
  entries: IndexEntry[];
  /** Files with their size and mtime: equal signatures, equal index. */
  signature: string;
}

const ERROR_KEY = Buffer.from('"error":');
const TOKENS_KEY = Buffer.from('"total_tokens":');
const NEWLINE = 0x0a;
const BLOCK = 4 * 1024 * 1024;

/** The code failures are counted by: the error's code, else its HTTP status, else its name. */
export function failureCode(error: Pick<SerializedError, 'code' | 'status' | 'name'>): string {
  if (typeof error.code === 'string' && error.code !== '') return error.code;
  if (typeof error.status === 'number') return String(error.status);
  return error.name || 'error';
}

/** A row's final error code, parsing it only when it has an `"error":` key at all. */
function rowCode(buf: Buffer, start: number, end: number): string | undefined {
  const at = buf.indexOf(ERROR_KEY, start);
  if (at === -1 || at >= end) return undefined;
  try {
    return finalErrorCode(JSON.parse(buf.toString('utf8', start, end)));
  } catch {
    return undefined;
  }
}

/** How a row answered from the response cache ends (`cached` is its last field): it cost nothing. */
const CACHED_TAIL = Buffer.from('"cached":true}');

/** The last `"total_tokens":N` of a row (its usage comes after the answer; answer text holds it escaped). */
function rowTokens(buf: Buffer, start: number, end: number): number {
  if (end - start > CACHED_TAIL.length && buf.subarray(end - CACHED_TAIL.length, end).equals(CACHED_TAIL))
    return 0;
  const at = buf.subarray(start, end).lastIndexOf(TOKENS_KEY);
  if (at === -1) return 0;
  let p = start + at + TOKENS_KEY.length;
  let n = 0;
  while (p < end && buf[p]! >= 0x30 && buf[p]! <= 0x39) n = n * 10 + (buf[p++]! - 0x30);
  return n;
}

async function signatureOf(paths: string[]): Promise<string> {
  const parts: string[] = [];
  for (const path of paths) {
    const info = await stat(path).catch(() => undefined);
    parts.push(`${path}:${info?.size ?? -1}:${info?.mtimeMs ?? -1}`);
  }
  return parts.join('|');
}

async function laneFiles(dir: string): Promise<string[]> {
  const files = await listLaneFiles(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return [];
    throw error;
  });
  return files.map((file) => file.path);
}

/** Calls `visit` for each non-blank line of `path` with its bytes, whole lines only. */
async function eachLine(
  path: string,
  visit: (buf: Buffer, start: number, end: number, fileOffset: number) => void,
): Promise<void> {
  const handle = await open(path, 'r');
  try {
    let buf = Buffer.allocUnsafe(BLOCK);
    let have = 0;
    let offset = 0;
    for (;;) {
      if (have === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, have);
        buf = bigger;
      }
      const { bytesRead } = await handle.read(buf, have, buf.length - have, offset + have);
      if (bytesRead === 0) break;
      const from = have;
      have += bytesRead;
      let start = 0;
      for (let nl = buf.indexOf(NEWLINE, from); nl !== -1 && nl < have; nl = buf.indexOf(NEWLINE, start)) {
        if (nl > start) visit(buf, start, nl, offset);
        start = nl + 1;
        if (start >= have) break;
      }
      buf.copy(buf, 0, start, have);
      offset += start;
      have -= start;
    }
    if (have > 0) visit(buf, 0, have, offset);
  } finally {
    await handle.close();
  }
}

async function outputIndex(output: string, signature: string): Promise<RowIndex> {
  const entries: IndexEntry[] = [];
  await eachLine(output, (buf, start, end, offset) => {
    entries.push({
      i: entries.length,
      file: 0,
      start: offset + start,
      end: offset + end,
      failureRecord: false,
      code: rowCode(buf, start, end),
      tokens: rowTokens(buf, start, end),
    });
  });
  return { from: 'output', files: [output], entries, signature };
}

async function checkpointIndex(files: string[], signature: string): Promise<RowIndex> {
  const byItem = new Map<number, IndexEntry>();
  for (const [file, path] of files.entries()) {
    await readLaneFile(path, (line, buf, bufOffset) => {
      const start = line.valueStart;
      const end = line.valueEnd;
      const result = line.kind === KIND_RESULT;
      // A result supersedes any earlier record of its item; a failure only an earlier failure.
      if (!result && byItem.get(line.i)?.failureRecord === false) return;
      byItem.set(line.i, {
        i: line.i,
        file,
        start: bufOffset + start,
        end: bufOffset + end,
        failureRecord: !result,
        code: result ? rowCode(buf, start, end) : failureCode(line.error!),
        tokens: result ? rowTokens(buf, start, end) : 0,
      });
    });
  }
  const entries = [...byItem.values()].sort((a, b) => a.i - b.i);
  return { from: files.length > 0 ? 'checkpoint' : 'none', files, entries, signature };
}

export interface IndexSource {
  output: string;
  checkpoint: string;
  /** Read the merged output (the run is complete and the file was written). */
  merged: boolean;
}

/** The index of `source`, reusing `previous` when no file changed. */
export async function buildRowIndex(source: IndexSource, previous?: RowIndex): Promise<RowIndex> {
  if (source.merged) {
    const signature = `output|${await signatureOf([source.output])}`;
    if (previous?.signature === signature) return previous;
    return outputIndex(source.output, signature);
  }
  const files = await laneFiles(source.checkpoint);
  const signature = `checkpoint|${await signatureOf(files)}`;
  if (previous?.signature === signature) return previous;
  return checkpointIndex(files, signature);
}

/**
 * Calls `visit` with the text of each entry, in the order given, reading each file in large
 * blocks (entries of one file should come sorted by `start` for that to pay).
 */
export async function readEntries(
  index: RowIndex,
  entries: readonly IndexEntry[],
  visit: (entry: IndexEntry, text: string) => boolean | undefined,
): Promise<void> {
  const handles = new Map<number, Awaited<ReturnType<typeof open>>>();
  let window: { file: number; start: number; buf: Buffer } | undefined;
  try {
    for (const entry of entries) {
      const inWindow =
        window?.file === entry.file &&
        entry.start >= window.start &&
        entry.end <= window.start + window.buf.length;
      if (!inWindow) {
        let handle = handles.get(entry.file);
        if (!handle) {
          handle = await open(index.files[entry.file]!, 'r');
          handles.set(entry.file, handle);
        }
        const size = Math.max(BLOCK, entry.end - entry.start);
        const buf = Buffer.allocUnsafe(size);
        const { bytesRead } = await handle.read(buf, 0, size, entry.start);
        window = { file: entry.file, start: entry.start, buf: buf.subarray(0, bytesRead) };
      }
      const from = entry.start - window!.start;
      const text = window!.buf.toString('utf8', from, from + entry.end - entry.start);
      if (visit(entry, text) === false) return;
    }
  } finally {
    await Promise.all([...handles.values()].map((handle) => handle.close()));
  }
}

/** The row an entry's text stands for: the output row, or a failure record's `output` / `{ error }`. */
export function entryRow(entry: IndexEntry, text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { error: { code: 'UNREADABLE', message: 'this record could not be read', status: null } };
  }
  if (!entry.failureRecord) return value;
  const error = value as SerializedError & { output?: unknown };
  if (error.output !== undefined) return error.output;
  return { error: { code: error.code ?? null, message: error.message, status: error.status ?? null } };
}
