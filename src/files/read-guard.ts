/**
 * Which files a run may read as a record's `files`, and reading them safely. A name is resolved
 * (`realpath`, every symbolic link followed) and must land inside one of the allowed folders (the
 * input's folder, plus each `--files-from`); it is opened without following a link at its last
 * step and without blocking (`O_NONBLOCK`, so a FIFO never holds a thread), then checked on the
 * opened descriptor (`fstat`, never stat-then-open): a regular file only, and never one of the
 * run's own files (config, output, run directory, …) by device and inode, whatever its name.
 * Reads stop at the cap + 1 byte: a size from `stat` is never trusted (it is 0 for `/dev/zero`).
 */
import { constants, type Stats } from 'node:fs';
import { type FileHandle, open, realpath } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { type OwnFile, OwnFiles } from './own-files.js';

/** Why a file is refused (the error row's code) and the words of its message. */
export class ReadRefusal extends Error {
  override readonly name = 'ReadRefusal';

  constructor(
    readonly code: 'file_not_allowed' | 'file_unsupported',
    message: string,
  ) {
    super(message);
  }
}

export interface ReadGuardOptions {
  /** Where relative names are found; also the first allowed folder. */
  baseDir: string;
  /** More folders files may come from (`--files-from`). @default [] */
  allow?: readonly string[];
  /**
   * Files and folders never read as inputs (anything under a folder neither): the pool's config,
   * the output, the run directory, the audit log folder, the cache. Missing ones are skipped.
   */
  never?: readonly OwnFile[];
}

const inside = (root: string, path: string) => {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
};

/** Where a record's file is: relative names from `baseDir`. */
export const namedPath = (name: string, baseDir: string) =>
  isAbsolute(name) ? name : resolve(baseDir, name);

export class ReadGuard {
  readonly #baseDir: string;
  readonly #roots: Promise<string[]>;
  readonly #never: Promise<OwnFiles>;

  constructor(options: ReadGuardOptions) {
    this.#baseDir = resolve(options.baseDir);
    const roots = [this.#baseDir, ...(options.allow ?? []).map((dir) => resolve(dir))];
    this.#roots = Promise.all(roots.map((dir) => realpath(dir).catch(() => dir)));
    this.#never = OwnFiles.of(options.never ?? []);
  }

  /** Where a record's file is named to be (relative names from the base folder). */
  pathOf(name: string): string {
    return namedPath(name, this.#baseDir);
  }

  /** The folders files may come from (real paths). */
  roots(): Promise<string[]> {
    return this.#roots;
  }

  /**
   * Opens a record's file for reading, or throws: ReadRefusal (outside the allowed folders, not a
   * regular file, one of the run's own files), or the fs error (ENOENT, EACCES, …).
   */
  async open(name: string): Promise<FileHandle> {
    const real = await realpath(namedPath(name, this.#baseDir));
    const roots = await this.#roots;
    if (!roots.some((root) => inside(root, real))) {
      throw new ReadRefusal(
        'file_not_allowed',
        `${name}: outside the input's folder${roots.length > 1 ? ' and --files-from folders' : ''} (${roots.join(', ')}); give --files-from <dir> to allow it`,
      );
    }
    // O_NOFOLLOW: a link swapped in since realpath is refused; O_NONBLOCK: a FIFO never waits.
    const handle = await open(real, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
    try {
      await this.#check(name, real, await handle.stat());
      return handle;
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** The opened file must be a regular file, and none of the run's own (by device + inode). */
  async #check(name: string, real: string, info: Stats): Promise<void> {
    if (info.isDirectory()) throw Object.assign(new Error('folder'), { code: 'EISDIR' });
    if (!info.isFile()) {
      throw new ReadRefusal(
        'file_unsupported',
        `${name}: not a regular file (${kindOf(info)}); only regular files are read`,
      );
    }
    const never = await this.#never;
    const own = never.same(info) ?? (await never.under(real));
    if (own) {
      throw new ReadRefusal(
        'file_not_allowed',
        `${name}: is the run's own ${own}; it is never read as an input`,
      );
    }
  }
}

function kindOf(info: Stats): string {
  if (info.isFIFO()) return 'a FIFO';
  if (info.isSocket()) return 'a socket';
  if (info.isCharacterDevice() || info.isBlockDevice()) return 'a device';
  return 'not a file';
}

/**
 * Reads at most `max` + 1 bytes from an opened file (the one past `max` tells a file that is too
 * large); never trusts its size. Returns the bytes read.
 */
export async function readBounded(handle: FileHandle, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  const step = 1024 * 1024;
  while (total <= max) {
    const buffer = Buffer.allocUnsafe(Math.min(step, max + 1 - total));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
    if (bytesRead === 0) break;
    chunks.push(buffer.subarray(0, bytesRead));
    total += bytesRead;
  }
  return Buffer.concat(chunks, total);
}
