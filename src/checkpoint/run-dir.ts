/**
 * A run directory: `manifest.json` (what the run was made from) and one `worker-<lane>.jsonl` per
 * lane. Opening one either starts it, resumes it (same input and options), or refuses it.
 */

import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointMismatchError, KeybatchError } from '../errors.js';
import { laneFileName, listLaneFiles } from './lane-file.js';
import { FileLaneWriter, type LaneWriter } from './lane-writer.js';
import {
  describeMismatch,
  type Manifest,
  normalizeOptions,
  readManifest,
  writeManifest,
} from './manifest.js';
import { type MergeResult, mergeRunDir } from './merge.js';
import { readResults, type ScanResult, scanRunDir } from './scan.js';

const MANIFEST = 'manifest.json';

export interface RunDirInit {
  /** Fingerprint of the input; a different one refuses to resume. */
  fingerprint: string;
  /** The options that change results; any difference (as JSON) refuses to resume. */
  options: Record<string, unknown>;
  /** Start over: delete the lane files and write a new manifest. @default false */
  fresh?: boolean;
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
  /** Writes `output`: one line per item 0..total-1, in order; refuses (writes nothing) if any item has no record. */
  merge(output: string, total: number): Promise<MergeResult>;
  /** Closes open lane writers and deletes the directory. */
  remove(): Promise<void>;
}

/**
 * Opens the run directory `dir`, making it (and its manifest) if needed. An existing one is
 * resumed if made from the same fingerprint and options, wiped if `fresh`, else refused with
 * CheckpointMismatchError. An unreadable manifest is KeybatchError CHECKPOINT_INVALID.
 */
export async function openRunDir(dir: string, init: RunDirInit): Promise<RunDir> {
  await mkdir(dir, { recursive: true });
  await removeStaleTemps(dir);
  const path = join(dir, MANIFEST);
  const options = normalizeOptions(init.options);
  const fresh = (): Manifest => ({
    version: 1,
    fingerprint: init.fingerprint,
    options,
    createdAt: new Date().toISOString(),
  });

  if (init.fresh) {
    // Lane files go first: a crash in between leaves the old manifest, which refuses or matches.
    for (const file of await listLaneFiles(dir)) await rm(file.path, { force: true });
    const manifest = fresh();
    await writeManifest(path, manifest);
    return new FileRunDir(dir, manifest);
  }

  const existing = await readManifest(path);
  if (existing) {
    const mismatch = describeMismatch(dir, existing, init.fingerprint, options);
    if (mismatch) throw new CheckpointMismatchError(mismatch);
    return new FileRunDir(dir, existing);
  }
  if ((await listLaneFiles(dir)).length > 0) {
    throw new KeybatchError(
      'CHECKPOINT_INVALID',
      `Checkpoint ${dir} has lane files but no ${MANIFEST}, so what they were made from is unknown; ` +
        `rerun with --fresh / resume: false, or delete ${dir}, to start over`,
    );
  }
  const manifest = fresh();
  await writeManifest(path, manifest);
  return new FileRunDir(dir, manifest);
}

/** Temporary manifests left by a crash between write and rename. */
async function removeStaleTemps(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    if (name.startsWith(`${MANIFEST}.tmp-`)) await rm(join(dir, name), { force: true });
  }
}

class FileRunDir implements RunDir {
  readonly dir: string;
  #manifest: Manifest;
  readonly #writers = new Map<number, LaneWriter>();
  #manifestWrite: Promise<void> = Promise.resolve();

  constructor(dir: string, manifest: Manifest) {
    this.dir = dir;
    this.#manifest = manifest;
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
    this.#manifest = manifest;
    // Writes go one after another, so the last call is the one on disk.
    const write = this.#manifestWrite.then(() => writeManifest(join(this.dir, MANIFEST), manifest));
    this.#manifestWrite = write.catch(() => {});
    return write;
  }

  merge(output: string, total: number): Promise<MergeResult> {
    return mergeRunDir(this.dir, output, total);
  }

  async remove(): Promise<void> {
    for (const writer of [...this.#writers.values()]) writer.close();
    await this.#manifestWrite;
    await rm(this.dir, { recursive: true, force: true });
  }
}
