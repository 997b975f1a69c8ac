/** `--glob '<pattern>' --prompt '<text>'`: one record per matching file, in path order. */
import type { PromptRecord } from '../prompts/input.js';
import { globFiles } from './glob.js';

/** `{ id: path, prompt, files: [path] }` for each file `pattern` matches (paths relative to `cwd`). */
export async function globRecords(
  pattern: string,
  prompt: string,
  cwd: string = process.cwd(),
): Promise<PromptRecord[]> {
  const paths = await globFiles(pattern, cwd);
  return paths.map((path) => ({ id: path, prompt, files: [path] }));
}
