/**
 * What a prompt run may read as records' files, and what `writeTo` may never write over: the
 * run's own files (the pool's config, the output, the run directory, the audit log folder) by
 * device and inode; for writes also the input and the records' files themselves.
 */
import { dirname, resolve } from 'node:path';
import type { FileItem } from '../files/identity.js';
import type { OwnFile } from '../files/own-files.js';
import { ReadGuard } from '../files/read-guard.js';
import type { KeyPool } from '../keys/key-pool.js';
import type { ResolvedPromptOptions } from './options.js';

type Access = Pick<ResolvedPromptOptions, 'output' | 'logDir' | 'filesDir' | 'filesFrom'>;

/** The run's own files: never read as inputs, never written over. */
export function ownFiles(opts: Access, pool: KeyPool): OwnFile[] {
  const own: OwnFile[] = [
    { path: opts.output, label: 'output' },
    { path: `${opts.output}.keybatch`, label: 'run directory' },
  ];
  if (pool.configPath !== undefined) own.push({ path: pool.configPath, label: 'config' });
  if (opts.logDir !== undefined) own.push({ path: opts.logDir, label: 'audit log folder' });
  return own;
}

/** The folder relative names are found in: `filesDir`, else the input file's, else the current one. */
export function filesDirOf(opts: Access, inputFile: string | undefined): string {
  return resolve(opts.filesDir ?? (inputFile !== undefined ? dirname(inputFile) : '.'));
}

/** Reads records' files inside the files folder and `filesFrom`, never the run's own. */
export function readGuard(opts: Access, own: readonly OwnFile[], inputFile: string | undefined): ReadGuard {
  return new ReadGuard({
    baseDir: filesDirOf(opts, inputFile),
    allow: opts.filesFrom ?? [],
    never: own,
  });
}

/** What `writeTo` must not land on: the run's own files, the input and every record's file. */
export function writeProtected(
  own: readonly OwnFile[],
  inputFile: string | undefined,
  items: readonly FileItem[],
  guard: ReadGuard,
): OwnFile[] {
  const files = new Set(items.flatMap((item) => item.files.map((name) => guard.pathOf(name))));
  return [
    ...own,
    ...(inputFile !== undefined ? [{ path: inputFile, label: 'input' }] : []),
    ...[...files].map((path) => ({ path, label: 'record file' })),
  ];
}
