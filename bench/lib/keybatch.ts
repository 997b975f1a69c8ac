/**
 * The library as users get it: the built `dist/` (npm run bench builds it first), typed from `src/`.
 * Benchmarks measure the shipped JavaScript, not TypeScript transpiled on the fly.
 */
import { access } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type * as Library from '../../src/index.js';

export type Keybatch = typeof Library;

const DIST = new URL('../../dist/index.js', import.meta.url);

export async function loadKeybatch(): Promise<Keybatch> {
  try {
    await access(DIST);
  } catch {
    throw new Error(`${fileURLToPath(DIST)} is missing: run \`npm run build\` (npm run bench does)`);
  }
  return (await import(DIST.href)) as Keybatch;
}
