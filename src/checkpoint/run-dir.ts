/**
 * A run directory: `lock` (the one process writing it), `manifest.json` (what the run was made
 * from) and one `worker-<lane>.jsonl` per lane. Opening one takes the lock before anything else,
 * then either starts it, resumes it (same input and options), or refuses it.
 */

import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointMismatchError, KeybatchError } from '../errors.js';
import { KEYS_FILE } from './key-slots.js';
import { laneFileName, listLaneFiles } from './lane-file.js';
import { FileLaneWriter, type LaneWriter } from './lane-writer.js';
import { acquireRunLock, type RunLock, removeStaleLockTemps } from './lock.js';
import {
  describeMismatch,
  type Manifest,
  normalizeOptions,
  type OutputRecord,
  readManifest,
  writeManifest,
} from './manifest.js';
import { type MergeLayout, type MergeResult, mergeRunDir, removeStaleMergeTemps } from './merge.js';
import { ORDER_FILE } from './order-file.js';
import { checkOutputOwner } from './output-check.js';
import { readResults, type ScanResult, scanRunDir } from './scan.js';
import { checkpointWriteError } from './write-error.js';

const MANIFEST = 'manifest.json';

export interface RunDirInit {
  /** Fingerprint of the input; a different one refuses to resume. */
  fingerprint: string;
  /** The options that change results; any difference (as JSON) refuses to resume. */
  options: Record<string, unknown>;
  /** Start over: delete the lane files and write a new manifest. @default false */
  fresh?: boolean;
  /**
   * The file `merge` will write. If it exists and is not the file this directory's last merge
   * wrote (same size and modification time as recorded), opening refuses with OUTPUT_REFUSED
   * unless `overwrite`. Temporary files of a killed merge beside it are removed.
   * @default none
   */
  output?: string;
  /** Let `output` replace an existing file this run directory did not write. @default false */
  overwrite?: boolean;
}

export interface RunDir {
  readonly dir: string;
  /** The manifest as last written. */
  readonly manifest: Manifest;
  /** Reads every lane file present: done and failed items. */
  scan(): Promise<ScanResult>;
  /** Calls `onResult` with each saved result, parsed (see `readResults`). */
  readResults(onResult: (i: number, value: unknown) => void): Promise<number>;
  /** The writer of `worker-<lane>.jsonl` (appended to if it exists). One open writer per lane. */
  openLane(lane: number): LaneWriter;
  /** Records the input size (and whether every item has a record) in the manifest. */
  setTotal(total: number, complete?: boolean): Promise<void>;
  /**
   * Writes `output`: one line per item 0..total-1, in order; refuses (writes nothing) if any item
   * has no record. Once written, its size and modification time go in the manifest, so a later
   * run knows the file as its own.
   */
  merge(output: string, total: number, layout?: MergeLayout): Promise<MergeResult>;
  /** Closes open lane writers and deletes the directory (its lock with it). */
  remove(): Promise<void>;
  /** Closes open lane writers, waits for manifest writes, and releases the lock. Idempotent. */
  close(): Promise<void>;
}

/**
 * Opens the run directory `dir`, making it (and its manifest) if needed, and takes its lock:
 * another live process holding it is KeybatchError RUN_LOCKED (naming its pid), a dead one's lock
 * is taken over. An existing directory is resumed if made from the same fingerprint and options,
 * wiped if `fresh`, replaced if it holds no record yet, else refused with CheckpointMismatchError
 * (an unreadable manifest: KeybatchError CHECKPOINT_INVALID). Call `close()` when done.
 */
export async function openRunDir(dir: string, init: RunDirInit): Promise<RunDir> {
  let made: string | undefined;
  try {
    made = await mkdir(dir, { recursive: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') {
      throw new KeybatchError(
        'CHECKPOINT_INVALID',
        `Checkpoint ${dir} exists and is not a directory; move it away, or name another checkpoint`,
      );
    }
    throw checkpointWriteError(dir, error);
  }
  // The lock comes first: nothing in the directory is read, changed or deleted without it.
  const lock = await acquireRunLock(dir);
  try {
    return await openLocked(dir, init, lock);
  } catch (error) {
    // A refused open leaves no trace: a directory made just now goes again.
    if (made !== undefined) await rm(dir, { recursive: true, force: true });
    await lock.release();
    throw error;
  }
}

async function openLocked(dir: string, init: RunDirInit, lock: RunLock): Promise<RunDir> {
  await removeStaleTemps(dir);
  const path = join(dir, MANIFEST);
  const options = normalizeOptions(init.options);
  let existing: Manifest | undefined;
  try {
    existing = await readManifest(path);
  } catch (error) {
    // An unreadable manifest is replaced with `fresh`, or when no record depends on it.
    if (!init.fresh && (await hasRecords(dir))) throw error;
  }
  if (init.output !== undefined) {
    const known = [existing?.output, existing?.previousOutput].filter(
      (r): r is OutputRecord => r !== undefined,
    );
    await checkOutputOwner(init.output, known, init.overwrite === true);
    await removeStaleMergeTemps(init.output);
  }
  const start = async (): Promise<RunDir> => {
    // Lane files go first: a crash in between leaves the old manifest, which refuses or matches.
    for (const file of await listLaneFiles(dir)) await rm(file.path, { force: true });
    // A content-keyed run's slots and order go with the records that named them.
    for (const name of [KEYS_FILE, ORDER_FILE]) await rm(join(dir, name), { force: true });
    const manifest: Manifest = {
      version: 1,
      fingerprint: init.fingerprint,
      options,
      createdAt: new Date().toISOString(),
    };
    // Which output file this directory wrote stays known across a fresh start.
    if (existing?.output) manifest.output = existing.output;
    if (existing?.previousOutput) manifest.previousOutput = existing.previousOutput;
    await writeManifest(path, manifest);
    return new FileRunDir(dir, manifest, lock);
  };

  if (init.fresh) return start();
  if (existing) {
    const mismatch = describeMismatch(dir, existing, init.fingerprint, options);
    if (!mismatch) return new FileRunDir(dir, existing, lock);
    // A run that stopped before recording anything (e.g. an unknown model): nothing to protect.
    if (await hasRecords(dir)) throw new CheckpointMismatchError(mismatch);
    return start();
  }
  if (await hasRecords(dir)) {
    throw new KeybatchError(
      'CHECKPOINT_INVALID',
      `Checkpoint ${dir} has lane files but no ${MANIFEST}, so what they were made from is unknown; ` +
        `rerun with --fresh / resume: false, or delete ${dir}, to start over`,
    );
  }
  return start();
}

/** Whether any lane file holds a readable record (success or failure). */
async function hasRecords(dir: string): Promise<boolean> {
  const files = await listLaneFiles(dir);
  const sizes = await Promise.all(files.map((file) => stat(file.path).then((info) => info.size)));
  if (!sizes.some((size) => size > 0)) return false;
  return (await scanRunDir(dir)).lines > 0;
}

/** Temporary manifests left by a crash between write and rename (we hold the lock), and dead lock temps. */
async function removeStaleTemps(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    if (name.startsWith(`${MANIFEST}.tmp-`) || name.startsWith(`${ORDER_FILE}.tmp-`)) {
      await rm(join(dir, name), { force: true });
    }
  }
  await removeStaleLockTemps(dir);
}

class FileRunDir implements RunDir {
  readonly dir: string;
  #manifest: Manifest;
  readonly #lock: RunLock;
  readonly #writers = new Map<number, LaneWriter>();
  #manifestWrite: Promise<void> = Promise.resolve();

  constructor(dir: string, manifest: Manifest, lock: RunLock) {
    this.dir = dir;
    this.#manifest = manifest;
    this.#lock = lock;
  }

  get manifest(): Manifest {
    return this.#manifest;
  }

  scan(): Promise<ScanResult> {
    return scanRunDir(this.dir);
  }

  readResults(onResult: (i: number, value: unknown) => void): Promise<number> {
    return readResults(this.dir, onResult);
  }

  openLane(lane: number): LaneWriter {
    if (!Number.isSafeInteger(lane) || lane < 0) {
      throw new RangeError(`A lane id must be an integer >= 0, got ${String(lane)}`);
    }
    if (this.#writers.has(lane)) throw new Error(`Lane ${lane} of checkpoint ${this.dir} is already open`);
    const writer = new FileLaneWriter(lane, join(this.dir, laneFileName(lane)), () =>
      this.#writers.delete(lane),
    );
    this.#writers.set(lane, writer);
    return writer;
  }

  setTotal(total: number, complete?: boolean): Promise<void> {
    if (!Number.isSafeInteger(total) || total < 0) {
      return Promise.reject(new RangeError(`total must be an integer >= 0, got ${String(total)}`));
    }
    const manifest: Manifest = { ...this.#manifest, total };
    if (complete !== undefined) manifest.complete = complete;
    return this.#write(manifest);
  }

  /** Writes go one after another, so the last call is the one on disk. */
  #write(manifest: Manifest): Promise<void> {
    this.#manifest = manifest;
    const write = this.#manifestWrite.then(() => writeManifest(join(this.dir, MANIFEST), manifest));
    this.#manifestWrite = write.catch(() => {});
    return write;
  }

  async merge(output: string, total: number, layout?: MergeLayout): Promise<MergeResult> {
    // The new output is recorded before it is renamed into place, the one it replaces kept beside
    // it until then: whenever the process dies, the file at `output` is one the manifest knows.
    let record: OutputRecord | undefined;
    const result = await mergeRunDir(
      this.dir,
      output,
      total,
      async (temp) => {
        const info = await stat(temp);
        record = { size: info.size, mtimeMs: info.mtimeMs };
        const { previousOutput: _, ...manifest } = this.#manifest;
        if (manifest.output) (manifest as Manifest).previousOutput = manifest.output;
        await this.#write({ ...manifest, output: record });
      },
      layout,
    );
    if (record && this.#manifest.previousOutput) {
      const { previousOutput: _, ...manifest } = this.#manifest;
      // Best effort: until it is written, the previous output is still accepted as well.
      await this.#write(manifest).catch(() => {});
    }
    return result;
  }

  async remove(): Promise<void> {
    for (const writer of [...this.#writers.values()]) writer.close();
    await this.#manifestWrite;
    await rm(this.dir, { recursive: true, force: true });
    await this.#lock.release();
  }

  async close(): Promise<void> {
    for (const writer of [...this.#writers.values()]) writer.close();
    await this.#manifestWrite;
    await this.#lock.release();
  }
}
