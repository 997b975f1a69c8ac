/**
 * A file record's identity includes the content of its files. `file-hashes.jsonl` in the run
 * directory keeps, for each record answered, the SHA-256 of each file as it was sent
 * (`{"i":3,"files":[["docs/a.md","<sha256>"]]}`, `null` for a file that could not be read); the
 * last line of an item wins. Before a rerun, a record whose files now hash otherwise is stale: its
 * checkpoint records are dropped, so it is sent again, and only it.
 */
import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hashFile } from './load.js';
import type { ReadGuard } from './read-guard.js';

export const FILE_HASHES = 'file-hashes.jsonl';

/** A record's files as sent: `[name, sha256 | null]` each, in the record's order. */
export type FileHashes = Array<[string, string | null]>;

/** Which records name files, and which (names as written). */
export interface FileItem {
  index: number;
  files: readonly string[];
}

/** Appends each answered record's file hashes, one line at a time, in call order. */
export class HashLog {
  readonly path: string;
  #write: Promise<void> = Promise.resolve();

  constructor(runDir: string) {
    this.path = join(runDir, FILE_HASHES);
  }

  /** Resolves when the line is written; a failed write rejects (the record is then not kept either). */
  record(index: number, files: FileHashes): Promise<void> {
    const line = `${JSON.stringify({ i: index, files })}\n`;
    const write = this.#write.then(() => appendFile(this.path, line));
    this.#write = write.catch(() => {});
    return write;
  }
}

/** The last recorded hashes of each item; an unreadable line (a torn last one) is skipped. */
export async function readHashLog(runDir: string): Promise<Map<number, FileHashes>> {
  const recorded = new Map<number, FileHashes>();
  let text: string;
  try {
    text = await readFile(join(runDir, FILE_HASHES), 'utf8');
  } catch {
    return recorded;
  }
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      const value = JSON.parse(line) as { i?: unknown; files?: unknown };
      if (typeof value.i === 'number' && Array.isArray(value.files)) {
        recorded.set(value.i, value.files as FileHashes);
      }
    } catch {
      // A line cut by a crash: its record is redone anyway (no result was kept after it).
    }
  }
  return recorded;
}

/** Pure: whether a record was answered from other file contents than `now` (same names, in order). */
export function isStale(recorded: FileHashes | undefined, now: FileHashes): boolean {
  if (!recorded || recorded.length !== now.length) return false;
  let changed = false;
  for (let k = 0; k < now.length; k++) {
    const [name, hash] = now[k] as [string, string | null];
    const [oldName, oldHash] = recorded[k] as [string, string | null];
    // Other names: another input altogether, which the checkpoint's fingerprint refuses.
    if (name !== oldName) return false;
    if (hash !== oldHash) changed = true;
  }
  return changed;
}

/**
 * The items answered from file contents that have changed since, with the names of the files that
 * changed; files are read through `guard` (one it refuses hashes as `null`).
 */
export async function staleItems(
  runDir: string,
  items: readonly FileItem[],
  guard: ReadGuard,
): Promise<Array<{ index: number; changed: string[] }>> {
  const recorded = await readHashLog(runDir);
  if (recorded.size === 0) return [];
  const hashes = new Map<string, Promise<string | null>>();
  const hashOf = (name: string) => {
    const path = guard.pathOf(name);
    let hash = hashes.get(path);
    if (!hash) {
      hash = hashFile(name, guard);
      hashes.set(path, hash);
    }
    return hash;
  };
  const stale: Array<{ index: number; changed: string[] }> = [];
  for (const item of items) {
    const old = recorded.get(item.index);
    if (!old) continue;
    const now: FileHashes = [];
    for (const name of item.files) now.push([name, await hashOf(name)]);
    if (isStale(old, now)) {
      stale.push({
        index: item.index,
        changed: now.filter(([, hash], k) => old[k]?.[1] !== hash).map(([name]) => name),
      });
    }
  }
  return stale;
}
