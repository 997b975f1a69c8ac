/**
 * The response cache: answers by row identity (src/identity), shared across runs and outputs, in
 * an embedded LMDB store (`lmdb`: memory-mapped B-tree, prebuilt binaries shipped in the npm
 * package, reads in microseconds at millions of entries without loading them into memory).
 *
 * Each entry is `identity (32 bytes) -> { t: ms when stored, a: answer body }`. Only successful
 * answers are put (errors never); an identity excludes the key and the answer body holds none, so
 * no key is ever stored. Writes are batched by lmdb into transactions committed in the
 * background: a kill loses at most the last few answers of the cache (the run's checkpoint still
 * has them), never a committed one.
 */
import { mkdir, readdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { RootDatabase } from 'lmdb';
import { KeybatchError } from '../errors.js';
import { IDENTITY_PATTERN } from '../identity/index.js';

interface Entry {
  /** When the answer was stored (ms since the epoch). */
  t: number;
  /** The answer body. */
  a: unknown;
}

export interface CacheStats {
  path: string;
  entries: number;
  /** Bytes of the store's files on disk. */
  bytes: number;
}

/** The cache folder used when none is named: `KEYBATCH_CACHE`, else `$XDG_CACHE_HOME/keybatch`, else `~/.cache/keybatch`. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env['KEYBATCH_CACHE']) return env['KEYBATCH_CACHE'];
  return join(env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'keybatch');
}

const keyOf = (identity: string): Buffer => {
  if (!IDENTITY_PATTERN.test(identity)) {
    throw new RangeError(
      `A cache key must be a row identity (64 hex characters), got ${identity.length} characters`,
    );
  }
  return Buffer.from(identity, 'hex');
};

export class ResponseCache {
  readonly #db: RootDatabase<Entry, Buffer>;
  readonly path: string;
  #hits = 0;
  #puts = 0;

  private constructor(path: string, db: RootDatabase<Entry, Buffer>) {
    this.path = path;
    this.#db = db;
  }

  /** Opens (making it if needed) the cache in folder `path`. A folder that cannot be used is KeybatchError CACHE_INVALID. */
  static async open(path: string): Promise<ResponseCache> {
    try {
      await mkdir(path, { recursive: true });
      // Loaded here, not at import: a run without a cache never loads the native store.
      const { open } = await import('lmdb');
      const db = open<Entry, Buffer>({
        path: join(path, 'responses.mdb'),
        keyEncoding: 'binary',
        compression: true,
      });
      return new ResponseCache(path, db);
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new KeybatchError(
        'CACHE_INVALID',
        `Cache ${path} cannot be opened (${reason}); name another folder with --cache`,
        {
          cause: error,
        },
      );
    }
  }

  /** Answers found in this session. */
  get hits(): number {
    return this.#hits;
  }

  /** Answers stored in this session. */
  get stored(): number {
    return this.#puts;
  }

  /** The answer stored for `identity`, or undefined. Synchronous (a memory-mapped read). */
  get(identity: string): unknown {
    const entry = this.#db.get(keyOf(identity));
    if (entry === undefined) return undefined;
    this.#hits++;
    return entry.a;
  }

  /** Stores a successful answer (`now`: ms since the epoch). Resolves once committed. */
  put(identity: string, answer: unknown, now = Date.now()): Promise<boolean> {
    this.#puts++;
    return this.#db.put(keyOf(identity), { t: now, a: answer });
  }

  /** Removes every entry stored before `cutoff` (ms since the epoch); resolves to how many. */
  async prune(cutoff: number): Promise<number> {
    let removed = 0;
    for (const { key, value } of this.#db.getRange({})) {
      if (value.t < cutoff) {
        void this.#db.remove(key);
        removed++;
      }
    }
    await this.#db.flushed;
    return removed;
  }

  async stats(): Promise<CacheStats> {
    const dir = join(this.path, 'responses.mdb');
    let bytes = 0;
    const info = await stat(dir);
    if (info.isDirectory()) {
      for (const name of await readdir(dir)) bytes += (await stat(join(dir, name))).size;
    } else bytes = info.size;
    const lock = await stat(`${dir}-lock`).catch(() => undefined);
    return { path: this.path, entries: this.#db.getCount(), bytes: bytes + (lock?.size ?? 0) };
  }

  /** Waits for the writes made so far, then closes the store. */
  async close(): Promise<void> {
    await this.#db.flushed;
    await this.#db.close();
  }
}
