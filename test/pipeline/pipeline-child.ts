/** The pipeline child process of the kill and signal tests (test/fixtures/pipeline-child.ts) and its checkpoint. */
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const child = fileURLToPath(new URL('../fixtures/pipeline-child.ts', import.meta.url));

/** Complete records (lines ending in `}`) over all lane files of the run directory. */
export async function checkpointLines(dir: string): Promise<number> {
  const files = await readdir(dir).catch(() => [] as string[]);
  let lines = 0;
  for (const file of files.filter((f) => /^worker-\d+\.jsonl$/.test(f))) {
    const text = await readFile(join(dir, file), 'utf8');
    lines += text.split('\n').filter((line) => line.endsWith('}')).length;
  }
  return lines;
}

/** Starts the child with `args`; `exited` resolves to its exit code and signal. */
export function startPipelineChild(args: string[]) {
  const proc = spawn(process.execPath, ['--import', 'tsx', child, ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d) => (stdout += d));
  proc.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { proc, exited, out: () => stdout, err: () => stderr };
}
