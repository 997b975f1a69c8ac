/**
 * `readRunStatus`: how far a run got, from its checkpoint alone, without changing anything
 * (no manifest write, no temp cleanup, no lane file opened for writing). Safe to call while the
 * run is going on or after it was killed.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { finalErrorCode } from '../checkpoint/final-error.js';
import { readManifest, readOrder, readResults, scanRunDir } from '../checkpoint/index.js';
import { InputError } from '../errors.js';
import { KEYED_FINGERPRINT } from './keyed-plan.js';

export interface RunStatus {
  /** The output file of the run. */
  output: string;
  /** The run directory read. */
  checkpoint: string;
  /** Items in the input, once the run knew it (absent for a stream that never ended). */
  total?: number;
  /** Items with a result in the checkpoint. */
  done: number;
  /** Items whose latest record is a failure (a rerun retries them). */
  failed: number;
  /** Items with no record yet (`total - done - failed`), when the total is known. */
  pending?: number;
  /** Every item has a record (the run reached its end). */
  complete: boolean;
  /** The merged output file of this checkpoint exists (a file older than the checkpoint is not it). */
  outputWritten: boolean;
  /**
   * A file is at `output` but it is older than the checkpoint's start: an earlier run's output
   * (before `--fresh`, or another run's), not this checkpoint's rows.
   */
  outputStale?: boolean;
}

export interface RunStatusOptions {
  /** The run directory, if it is not the default. @default `<output>.keybatch` */
  checkpoint?: string;
}

/** The run directory `runPipeline`/`runPrompts` use for `output` when no `checkpoint` is given. */
export function defaultRunDir(output: string): string {
  return `${output}.keybatch`;
}

/** Whether `path` is a file, and whether it was written before `since` (ms). */
const fileAge = (path: string, since: number) =>
  stat(path).then(
    (info) => ({ file: info.isFile(), older: info.mtimeMs < since }),
    () => ({ file: false, older: false }),
  );

/**
 * Reads the checkpoint of the run whose output is `output`: done, failed and pending counts, and
 * whether it is complete. Read-only. No checkpoint there is an `InputError` (`INPUT_INVALID`);
 * an unreadable one is `CHECKPOINT_INVALID`.
 */
export async function readRunStatus(output: string, options: RunStatusOptions = {}): Promise<RunStatus> {
  if (typeof output !== 'string' || output === '') {
    throw new InputError(
      `Expected \`output\` to be a file path, got \`${String(output)}\` (${typeof output})`,
    );
  }
  const dir = options.checkpoint ?? defaultRunDir(output);
  const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined;
    throw error;
  });
  const manifest = names ? await readManifest(join(dir, 'manifest.json')) : undefined;
  const hasLanes = names?.some((name) => /^worker-\d+\.jsonl$/.test(name)) ?? false;
  if (!manifest && !hasLanes) {
    throw new InputError(`${output}: no checkpoint found (${dir} does not exist or holds no run)`);
  }
  const scan = await scanRunDir(dir);
  // Results with an `error` field (e.g. a prompt refused with a 400) are final failures.
  const refused = new Set<number>();
  await readResults(dir, (i, value) => {
    if (finalErrorCode(value) === undefined) refused.delete(i);
    else refused.add(i);
  });
  // A checkpoint started (or started over) after the file was written cannot be what it holds;
  // counted in whole seconds, since some file systems keep no finer modification times.
  const started = manifest ? Math.floor(Date.parse(manifest.createdAt) / 1000) * 1000 : Number.NaN;
  const written = await fileAge(output, Number.isFinite(started) ? started : Number.NEGATIVE_INFINITY);
  const status: RunStatus = {
    output,
    checkpoint: dir,
    done: scan.done.size - refused.size,
    failed: scan.failed.size + refused.size,
    complete: manifest?.complete === true,
    outputWritten: written.file && !written.older,
  };
  if (written.file && written.older) status.outputStale = true;
  // A content-keyed run records by slot: count its input positions through their slots.
  const order = manifest?.fingerprint === KEYED_FINGERPRINT ? await readOrder(dir) : undefined;
  if (order) {
    let done = 0;
    let failed = 0;
    for (const slot of order) {
      if (refused.has(slot) || (scan.failed.has(slot) && !scan.done.has(slot))) failed++;
      else if (scan.done.has(slot)) done++;
    }
    status.done = done;
    status.failed = failed;
  }
  if (manifest?.total !== undefined) {
    status.total = manifest.total;
    status.pending = Math.max(0, manifest.total - status.done - status.failed);
  }
  return status;
}
