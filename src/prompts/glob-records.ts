/** `--glob '<pattern>' --prompt '<text>'`: one record per matching file, in path order. */

import { type GlobOptions, globFiles } from '../files/glob.js';
import type { PromptRecord } from './input.js';

/** `{ id: path, prompt, files: [path] }` for each file `pattern` matches (paths relative to `cwd`). */
export async function globRecords(
  pattern: string,
  prompt: string,
  cwd: string = process.cwd(),
  options: GlobOptions = {},
): Promise<PromptRecord[]> {
  const paths = await globFiles(pattern, cwd, options);
  return paths.map((path) => ({ id: path, prompt, files: [path] }));
}
