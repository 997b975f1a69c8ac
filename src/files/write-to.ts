/**
 * `--write-to <dir>`: each answer written to `<dir>/<path>`, mirroring the input tree, and never
 * outside `<dir>` whatever the path says: an absolute path, `..`, or a folder on the way that is a
 * symbolic link is refused (a warning naming it; the run goes on). Each file is written to a
 * temporary name beside it and renamed into place, so a link at the final name is replaced, never
 * followed. Nor is an answer ever written over one of the files the run reads (its input, a
 * record's file, the config, the output, the run directory): those are compared by device and
 * inode, so `--write-to .` skips such rows with a warning instead of overwriting them.
 */
import { constants } from 'node:fs';
import { lstat, mkdir, open, realpath, rename, rm } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { OwnFiles } from './own-files.js';

/** Pure: the path's segments under the target folder, or why it may not be written there. */
export function safeSegments(path: string): { segments: string[] } | { refused: string } {
  if (path === '' || path.includes('\0')) return { refused: 'not a file path' };
  const unified = path.replaceAll('\\', '/');
  if (isAbsolute(path) || unified.startsWith('/') || /^[A-Za-z]:/.test(unified)) {
    return { refused: 'an absolute path' };
  }
  const segments = unified.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) return { refused: 'it goes up with ..' };
  if (segments.length === 0) return { refused: 'not a file path' };
  return { segments };
}

const inside = (root: string, path: string) => {
  const rel = relative(root, path);
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
};

/** Writes answers under one folder; `write` refuses (resolves to the reason) rather than escape it. */
export class AnswerWriter {
  #root: Promise<string> | undefined;

  readonly #own: Promise<OwnFiles>;

  /** `own`: the files the run reads, never written over (see the file comment). */
  constructor(
    readonly dir: string,
    own: OwnFiles | Promise<OwnFiles> = OwnFiles.of([]),
  ) {
    this.#own = Promise.resolve(own);
  }

  #realRoot(): Promise<string> {
    this.#root ??= mkdir(this.dir, { recursive: true }).then(() => realpath(this.dir));
    return this.#root;
  }

  /** Writes `text` to `<dir>/<path>`; resolves to null when written, else to why not. */
  async write(path: string, text: string): Promise<string | null> {
    const safe = safeSegments(path);
    if ('refused' in safe) return safe.refused;
    const root = await this.#realRoot();
    let folder = root;
    for (const segment of safe.segments.slice(0, -1)) {
      folder = join(folder, segment);
      const info = await lstat(folder).catch(() => undefined);
      if (!info)
        await mkdir(folder).catch((error: NodeJS.ErrnoException) => {
          if (error.code !== 'EEXIST') throw error;
        });
      const now = await lstat(folder);
      if (now.isSymbolicLink()) return `${join(this.dir, ...safe.segments.slice(0, -1))} is a symbolic link`;
      if (!now.isDirectory()) return `${folder} is not a folder`;
    }
    const target = join(folder, safe.segments.at(-1) as string);
    // The folder reached is still under the root (nothing was swapped on the way).
    if (!inside(root, target) || !inside(root, join(await realpath(folder), 'x')))
      return 'outside the folder';
    const existing = await lstat(target).catch(() => undefined);
    if (existing?.isDirectory()) return `${target} is a folder`;
    const own = await this.#own;
    const read = (existing && own.same(existing)) ?? (await own.under(join(await realpath(folder), 'x')));
    if (read) return `it would overwrite the run's own ${read}`;
    const temp = `${target}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    const handle = await open(
      temp,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o644,
    );
    try {
      await handle.writeFile(text);
    } catch (error) {
      await handle.close();
      await rm(temp, { force: true });
      throw error;
    }
    await handle.close();
    await rename(temp, target);
    return null;
  }
}
