/**
 * `keybatch cache stats [--cache dir]` and `keybatch cache prune --older-than <age> [--cache dir]`:
 * the response cache's size, and removing answers stored before a given age.
 */
import { defaultCacheDir, InputError, ResponseCache } from '../index.js';
import { EXIT } from './errors.js';

export interface CacheFlags {
  cache?: string;
  olderThan?: string;
  json?: boolean;
}

const UNIT_MS: Readonly<Record<string, number>> = Object.freeze({
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
});

/** `30d`, `12h`, `90m`, `45s`, `2w` in milliseconds. */
export function parseAge(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([smhdw])$/.exec(text.trim());
  if (!match) {
    throw new InputError(`--older-than: expected an age like 30d, 12h, 90m, 45s or 2w, got \`${text}\``);
  }
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}

function formatBytes(bytes: number): string {
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

export async function cacheCommand(action: 'stats' | 'prune', flags: CacheFlags): Promise<number> {
  const dir = flags.cache ?? defaultCacheDir();
  const cutoff = action === 'prune' ? Date.now() - parseAge(flags.olderThan ?? '') : undefined;
  const cache = await ResponseCache.open(dir);
  try {
    const removed = cutoff === undefined ? undefined : await cache.prune(cutoff);
    const stats = await cache.stats();
    if (flags.json) {
      process.stdout.write(
        `${JSON.stringify({ ...stats, ...(removed === undefined ? {} : { removed }) })}\n`,
      );
    } else {
      if (removed !== undefined)
        process.stdout.write(`removed  ${removed} answer(s) older than ${flags.olderThan}\n`);
      process.stdout.write(
        `cache    ${stats.path}\nentries  ${stats.entries}\nsize     ${formatBytes(stats.bytes)}\n`,
      );
    }
  } finally {
    await cache.close();
  }
  return EXIT.ok;
}
