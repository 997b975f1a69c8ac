/**
 * The run's own files, known by device and inode rather than by name: a hard link, a symbolic
 * link or another spelling of the same file is still the same file. Reads refuse them as inputs
 * (`ReadGuard`); `--write-to` refuses to land on them (`AnswerWriter`).
 */
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';

interface Identity {
  dev: number;
  ino: number;
  label: string;
  folder: boolean;
}

export interface OwnFile {
  path: string;
  /** What it is, for messages: `config`, `output`, `run directory`, `input`, … */
  label: string;
}

export class OwnFiles {
  private constructor(readonly list: readonly Identity[]) {}

  /** Those of `files` that exist now (a missing one cannot be read, and a write creates it anew). */
  static async of(files: readonly OwnFile[]): Promise<OwnFiles> {
    const found: Identity[] = [];
    for (const file of files) {
      const info = await stat(file.path).catch(() => undefined);
      if (info) {
        found.push({
          dev: info.dev,
          ino: info.ino,
          label: `${file.label} ${file.path}`,
          folder: info.isDirectory(),
        });
      }
    }
    return new OwnFiles(found);
  }

  /** The own file `info` is (a file, or an own folder itself), or undefined. */
  same(info: { dev: number; ino: number }): string | undefined {
    return this.list.find((id) => id.dev === info.dev && id.ino === info.ino)?.label;
  }

  /** The own folder that `realPath` (a path with no symbolic links) is under, or undefined. */
  async under(realPath: string): Promise<string | undefined> {
    if (!this.list.some((id) => id.folder)) return undefined;
    for (let dir = dirname(realPath); ; dir = dirname(dir)) {
      const at = await stat(dir).catch(() => undefined);
      const hit = at && this.list.find((id) => id.folder && id.dev === at.dev && id.ino === at.ino);
      if (hit) return hit.label;
      if (dirname(dir) === dir) return undefined;
    }
  }
}
