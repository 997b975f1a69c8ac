/**
 * `-` as input and `-o -` for `keybatch run`.
 *
 * stdin: read whole into `<output>.keybatch/stdin-<pid>.jsonl` first (the records are checked,
 * fingerprinted and streamed twice, which a pipe cannot do), then run as a file; the copy is removed
 * when the run ends. A rerun with the same stdin resumes (the checkpoint knows the input by its
 * content). A terminal as stdin is refused: it would wait for typing.
 *
 * stdout: the output is `./keybatch-stdout.jsonl` (checkpoint `./keybatch-stdout.jsonl.keybatch`,
 * so rerunning the same command resumes), copied to stdout once the run has finished (exit 0 or
 * 1). Progress, the summary and every other line go to stderr.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { InputError } from '../index.js';
import { defaultRunDir } from '../internal.js';

/** The output file of `-o -`, in the current directory. */
export const STDOUT_OUTPUT = 'keybatch-stdout.jsonl';

export interface StdinInput {
  /** The file stdin was copied to. */
  path: string;
  /** Deletes it. */
  remove(): Promise<void>;
}

/** Copies stdin to a file in the run directory of `output`. */
export async function stdinInput(
  output: string,
  stdin: NodeJS.ReadStream = process.stdin,
): Promise<StdinInput> {
  if (stdin.isTTY) {
    throw new InputError('`-` reads the prompts from stdin, which is a terminal: pipe a .jsonl file in');
  }
  const dir = defaultRunDir(output);
  await mkdir(dir, { recursive: true });
  const path = join(dir, `stdin-${process.pid}.jsonl`);
  const temp = `${path}.tmp`;
  try {
    await pipeline(stdin, createWriteStream(temp));
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  return { path, remove: () => rm(path, { force: true }) };
}

/** Writes the merged output file to stdout. */
export async function writeOutputToStdout(
  output: string,
  stdout: NodeJS.WritableStream = process.stdout,
): Promise<void> {
  await pipeline(createReadStream(output), stdout, { end: false });
}
