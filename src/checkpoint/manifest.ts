/** `manifest.json`: what a run directory was made from, read strictly and written atomically. */

import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { KeybatchError } from '../errors.js';
import { checkpointWriteError } from './write-error.js';

export interface Manifest {
  version: 1;
  /** Fingerprint of the input (e.g. `fingerprintFile` or `Fingerprint`). */
  fingerprint: string;
  /** The options that change results, as JSON. */
  options: Record<string, unknown>;
  /** ISO time the run directory was made. */
  createdAt: string;
  /** Number of input items, once known. */
  total?: number;
  /** Set once every item has a record. */
  complete?: boolean;
  /** The output file the last merge wrote, as it was then: a later run may replace that file, not another. */
  output?: OutputRecord;
  /** While a merge puts its output in place: the output it replaces (still this run's until the rename). */
  previousOutput?: OutputRecord;
}

/** What identifies an output file keybatch wrote: its size and modification time right after the merge. */
export interface OutputRecord {
  size: number;
  mtimeMs: number;
}

/** The manifest at `path`, or undefined if there is none. Throws CHECKPOINT_INVALID if unreadable. */
export async function readManifest(path: string): Promise<Manifest | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw invalidManifest(path, `is not valid JSON (${(error as Error).message})`);
  }
  const problem = manifestProblem(data);
  if (problem) throw invalidManifest(path, problem);
  return data as Manifest;
}

function manifestProblem(data: unknown): string | undefined {
  if (!isPlainObject(data)) return 'is not a JSON object';
  if (data['version'] !== 1) return `has "version" ${JSON.stringify(data['version'])}, expected 1`;
  if (typeof data['fingerprint'] !== 'string') return 'has no string "fingerprint"';
  if (!isPlainObject(data['options'])) return 'has no object "options"';
  if (typeof data['createdAt'] !== 'string') return 'has no string "createdAt"';
  const total = data['total'];
  if (total !== undefined && !(Number.isSafeInteger(total) && (total as number) >= 0)) {
    return `has "total" ${JSON.stringify(total)}, expected an integer >= 0`;
  }
  const complete = data['complete'];
  if (complete !== undefined && typeof complete !== 'boolean') return '"complete" is not a boolean';
  for (const key of ['output', 'previousOutput']) {
    const output = data[key];
    if (
      output !== undefined &&
      !(isPlainObject(output) && Number.isSafeInteger(output['size']) && Number.isFinite(output['mtimeMs']))
    ) {
      return `"${key}" is not an object with a "size" and an "mtimeMs"`;
    }
  }
  return undefined;
}

function invalidManifest(path: string, problem: string): KeybatchError {
  return new KeybatchError(
    'CHECKPOINT_INVALID',
    `Checkpoint manifest ${path} ${problem}; rerun with --fresh / resume: false, or delete it`,
  );
}

/**
 * Writes a temporary file beside `path`, then renames it over `path`: readers see old or new, never
 * half. A failure leaves the old one and is KeybatchError CHECKPOINT_WRITE.
 */
export async function writeManifest(path: string, manifest: Manifest): Promise<void> {
  const temp = `${path}.tmp-${process.pid}`;
  try {
    await writeFile(temp, `${JSON.stringify(manifest, null, 2)}\n`);
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw checkpointWriteError(path, error);
  }
}

/** Options as the manifest keeps them: through JSON (so `undefined` members drop out). */
export function normalizeOptions(options: Record<string, unknown>): Record<string, unknown> {
  const json = JSON.stringify(options);
  return json === undefined ? {} : (JSON.parse(json) as Record<string, unknown>);
}

/**
 * One line saying how `manifest` differs from the new run (input, and each option old -> new),
 * or undefined if it does not.
 */
export function describeMismatch(
  dir: string,
  manifest: Manifest,
  fingerprint: string,
  options: Record<string, unknown>,
): string | undefined {
  const parts: string[] = [];
  if (manifest.fingerprint !== fingerprint) {
    parts.push(`different input (fingerprint ${short(manifest.fingerprint)} -> ${short(fingerprint)})`);
  }
  const keys = [...new Set([...Object.keys(manifest.options), ...Object.keys(options)])].sort();
  const changed = keys
    .filter((key) => canonicalJson(manifest.options[key]) !== canonicalJson(options[key]))
    .map((key) => `${key}: ${showValue(manifest.options[key])} -> ${showValue(options[key])}`);
  if (changed.length > 0) parts.push(`different options (${changed.join(', ')})`);
  if (parts.length === 0) return undefined;
  return (
    `Checkpoint ${dir} was made from ${parts.join(' and ')}; ` +
    `rerun with --fresh / resume: false, or delete ${dir}, to start over`
  );
}

function short(fingerprint: string): string {
  return fingerprint.length > 16 ? `${fingerprint.slice(0, 12)}…` : fingerprint;
}

function showValue(value: unknown): string {
  if (value === undefined) return '(unset)';
  const json = JSON.stringify(value);
  return json.length > 60 ? `${json.slice(0, 57)}...` : json;
}

/** JSON with object keys sorted, so key order never counts as a difference. */
export function canonicalJson(value: unknown): string {
  return (
    JSON.stringify(value, (_key, v: unknown) => {
      if (!isPlainObject(v)) return v;
      const sorted: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) sorted[k] = v[k];
      return sorted;
    }) ?? 'undefined'
  );
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
