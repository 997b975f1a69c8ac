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

export async function loadKeybatch(): Promise<Keybatch> {
  const index = distIndex();
  try {
    await access(index);
  } catch {
    throw new Error(`${fileURLToPath(index)} is missing: run \`npm run build\` (npm run bench does)`);
  }
  return (await import(index.href)) as Keybatch;
}
