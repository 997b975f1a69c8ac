/**
 * The library as users get it: the built `dist/` (npm run bench builds it first), typed from `src/`.
 * Benchmarks measure the shipped JavaScript, not TypeScript transpiled on the fly.
 */
import { access } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as Library from '../../src/index.js';

export type Keybatch = typeof Library;

/**
 * The built index.js benchmarks load: `dist/` of this checkout, or `KEYBATCH_DIST` (another
 * build's index.js, for before/after comparisons; `--dist=PATH` sets it).
 */
export function distIndex(): URL {
  const other = process.env['KEYBATCH_DIST'];
  return other ? pathToFileURL(other) : new URL('../../dist/index.js', import.meta.url);
}

/** This checkout's dist/index.js, whatever `--dist` says (benchmarks that compare builds in one run). */
export const OWN_DIST = new URL('../../dist/index.js', import.meta.url);

/** Another build's index.js (a path), loaded beside this checkout's. */
export function loadKeybatchFrom(path: string): Promise<Keybatch> {
  return loadKeybatch(pathToFileURL(path));
}

export async function loadKeybatch(index: URL = distIndex()): Promise<Keybatch> {
  try {
    await access(index);
  } catch {
    throw new Error(`${fileURLToPath(index)} is missing: run \`npm run build\` (npm run bench does)`);
  }
  return (await import(index.href)) as Keybatch;
}
