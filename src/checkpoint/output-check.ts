/**
 * Checks of a run's output path, made before the first request: that it can be written at all
 * (`checkOutputPath`), and that writing it replaces nothing keybatch did not write there
 * (`checkOutputOwner`, under the run directory's lock).
 */

import { open, rm, stat } from 'node:fs/promises';
import { basename, dirname, resolve, sep } from 'node:path';
import { KeybatchError } from '../errors.js';
import type { OutputRecord } from './manifest.js';
import { describeWriteFailure } from './write-error.js';

export interface OutputPathOptions {
  /** The run's input file, which the output may never replace (not even with `overwrite`). */
  input?: string | undefined;
}

const OVERWRITE_HINT = 'pass --overwrite / overwrite: true to replace it';

function refused(message: string): KeybatchError {
  return new KeybatchError('OUTPUT_REFUSED', message);
}

async function statOrUndefined(path: string) {
  try {
    return await stat(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw refused(`Output ${describeWriteFailure(path, error)}`);
  }
}

/**
 * Throws KeybatchError OUTPUT_REFUSED (one line) unless `output` names a file that can be written:
 * not a directory (nor ending in a slash), not another kind of file, in an existing directory in
 * which a file can be made (a probe file is created and removed), and not the input (same device
 * and inode, so a symlink or hard link to it counts; `overwrite` does not change this).
 */
export async function checkOutputPath(output: string, options: OutputPathOptions = {}): Promise<void> {
  if (output.endsWith('/') || output.endsWith(sep)) {
    throw refused(`Output ${output} ends with a path separator: name a file, e.g. ${output}out.jsonl`);
  }
  const info = await statOrUndefined(output);
  if (info?.isDirectory()) {
    throw refused(`Output ${output} is a directory: name a file in it, e.g. ${output}${sep}out.jsonl`);
  }
  if (info && !info.isFile()) throw refused(`Output ${output} exists and is not a regular file`);
  if (info && options.input !== undefined) {
    const input = await statOrUndefined(options.input);
    if (input && input.dev === info.dev && input.ino === info.ino) {
      throw refused(
        `Output ${output} is the input file ${options.input}; choose another output (not even --overwrite replaces the input)`,
      );
    }
  }
  const parent = dirname(resolve(output));
  const dir = await statOrUndefined(parent);
  if (!dir) throw refused(`Output ${output}: directory ${parent} does not exist`);
  if (!dir.isDirectory()) throw refused(`Output ${output}: ${parent} is not a directory`);
  const probe = resolve(parent, `.${basename(output)}.keybatch-probe-${process.pid}`);
  try {
    await (await open(probe, 'w')).close();
  } catch (error) {
    throw refused(`Output ${output} cannot be written: ${describeWriteFailure(parent, error)}`);
  } finally {
    await rm(probe, { force: true });
  }
}

/**
 * Throws KeybatchError OUTPUT_REFUSED if `output` exists and is none of the files this run
 * directory's merges wrote (`records`: their size and modification time then), unless `overwrite`.
 */
export async function checkOutputOwner(
  output: string,
  records: readonly OutputRecord[],
  overwrite: boolean,
): Promise<void> {
  if (overwrite) return;
  const info = await statOrUndefined(output);
  if (!info) return;
  if (records.some((r) => info.size === r.size && info.mtimeMs === r.mtimeMs)) return;
  const why =
    records.length > 0
      ? 'it was changed after keybatch wrote it: its size or modification time differ'
      : 'keybatch did not write it: its checkpoint records no output';
  throw refused(
    `Output ${output} exists and is not this run's output (${why}); choose another output, or ${OVERWRITE_HINT}`,
  );
}
