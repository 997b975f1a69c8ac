/** Child processes of the shared-pool tests (test/keys/shared/child.ts) and what they wrote. */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { PoolStatus } from '../../../src/keys/types.js';
import type { RunSummary } from '../../../src/prompts/index.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const script = fileURLToPath(new URL('./child.ts', import.meta.url));

export interface ChildArgs {
  sim: string;
  keys: string[];
  redis?: string;
  namespace?: string;
  output: string;
  count: number;
  tag: string;
  workers?: number;
  /** The child opens its pool, then waits for `go()` (see child.ts). */
  gate?: boolean;
}

export function startChild(args: ChildArgs) {
  const proc = spawn(process.execPath, ['--import', 'tsx', script, JSON.stringify(args)], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  if (!args.gate) proc.stdin.end();
  let stdout = '';
  let stderr = '';
  let opened: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    opened = resolve;
  });
  proc.stdout.on('data', (d) => {
    stdout += d;
    if (/^ready$/m.test(stdout)) opened();
  });
  proc.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    proc,
    exited,
    /** With `gate`: resolves once the child's pool is open, and `go()` starts its run. */
    ready,
    go: () => proc.stdin.end('go\n'),
    err: () => stderr,
    /** The child's last line: its run summary and its pool's status. */
    result: () =>
      JSON.parse(stdout.trim().split('\n').at(-1) ?? 'null') as { summary: RunSummary; status: PoolStatus },
  };
}

/** Runs children to the end; fails with their stderr if one does not exit 0. */
export async function runChildren(children: ReturnType<typeof startChild>[]) {
  const ends = await Promise.all(children.map((child) => child.exited));
  ends.forEach((end, i) => {
    if (end.code !== 0)
      throw new Error(`child ${i} exited with ${end.signal ?? end.code}:\n${children[i]!.err()}`);
  });
  return children.map((child) => child.result());
}

/** The ids of an output file's rows, in file order. */
export async function outputIds(path: string): Promise<unknown[]> {
  const text = await readFile(path, 'utf8');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => (JSON.parse(line) as { id: unknown }).id);
}
