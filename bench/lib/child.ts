/**
 * Running one benchmark variant in its own Node process (so its peak RSS and CPU are its own):
 * the script prints progress lines and, last, one JSON line with its result.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface Child {
  proc: ChildProcess;
  /** Called for each stdout line. */
  onLine(listener: (line: string) => void): void;
  /** Resolves when the process ends; `signal` is set when it was killed. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last stdout line, parsed as JSON (after exit). */
  result<T>(): T;
  stderr(): string;
}

export interface ChildOptions {
  /** Extra node flags (e.g. `--cpu-prof`). */
  nodeArgs?: string[];
  /** Killed (SIGKILL) after this long; the benchmark fails instead of hanging. @default 15 min */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/**
 * Starts `bench/<script>` with `args`: plain node on the built library (no TypeScript loader, so
 * start-up, CPU and memory are what a user's script would see).
 */
export function startChild(script: string, args: string[], options: ChildOptions = {}): Child {
  const path = fileURLToPath(new URL(`../${script}`, import.meta.url));
  const proc = spawn(process.execPath, [...(options.nodeArgs ?? []), path, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: options.env ?? process.env,
  });
  const listeners: Array<(line: string) => void> = [];
  const lines: string[] = [];
  let rest = '';
  let stderr = '';
  proc.stdout?.setEncoding('utf8').on('data', (data: string) => {
    const parts = (rest + data).split('\n');
    rest = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      for (const listener of listeners) listener(line);
    }
  });
  proc.stderr?.setEncoding('utf8').on('data', (data: string) => {
    stderr += data;
  });
  const timer = setTimeout(() => proc.kill('SIGKILL'), options.timeoutMs ?? 15 * 60_000);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    }),
  );
  return {
    proc,
    onLine: (listener) => listeners.push(listener),
    exited,
    stderr: () => stderr,
    result<T>(): T {
      const last = [...lines, rest].filter((line) => line.trim() !== '').at(-1);
      if (!last) throw new Error(`${script} printed no result; stderr:\n${stderr}`);
      return JSON.parse(last) as T;
    },
  };
}

/** Runs a script to the end and returns its JSON result; a failure shows its stderr. */
export async function runChild<T>(script: string, args: string[], options: ChildOptions = {}): Promise<T> {
  const child = startChild(script, args, options);
  const { code, signal } = await child.exited;
  if (code !== 0)
    throw new Error(`${script} ${args.join(' ')} exited with ${signal ?? code}:\n${child.stderr()}`);
  return child.result<T>();
}
