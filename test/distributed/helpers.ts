/** Child processes of the distributed tests: `keybatch worker` (the real CLI) and a coordinator script. */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';
import { TSX } from '../helpers.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const COORDINATOR = fileURLToPath(new URL('../fixtures/distributed/coordinator-child.ts', import.meta.url));

export interface Child {
  proc: ChildProcessWithoutNullStreams;
  pid: number;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

const started: Child[] = [];

/** Every child a test started is killed after it (kill -9 if it still runs). */
export function useChildren(): void {
  afterEach(async () => {
    await Promise.all(started.splice(0).map((child) => child.kill('SIGKILL')));
  });
}

function start(args: string[], cwd: string): Child {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['OPENAI_API_KEY', 'OPENAI_BASE_URL', 'KEYBATCH_CONFIG', 'KEYBATCH_REDIS', 'LARK_HOOK'])
    delete env[name];
  const proc = spawn(process.execPath, ['--import', TSX, ...args], { cwd, env, stdio: 'pipe' });
  proc.stdin.end();
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  proc.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('close', (code, signal) => resolve({ code, signal }));
  });
  const child: Child = {
    proc,
    pid: proc.pid!,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    async kill(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      await exited;
    },
  };
  started.push(child);
  return child;
}

/** `keybatch worker <args>` in `cwd`. */
export function startWorkerCli(args: string[], cwd: string): Child {
  return start([MAIN, 'worker', ...args], cwd);
}

/** `keybatch <args>` in `cwd`. */
export function startKeybatch(args: string[], cwd: string): Child {
  return start([MAIN, ...args], cwd);
}

/** The coordinator script with these settings. */
export function startCoordinator(settings: Record<string, unknown>, cwd: string): Child {
  return start([COORDINATOR, JSON.stringify(settings)], cwd);
}

/** What a redis dump holds besides the shared key pool's own state (which outlives runs on purpose). */
export function runKeys(dump: Array<{ key: string; value: string }>): string[] {
  return dump.map((entry) => entry.key).filter((key) => !key.startsWith('keybatch:pool:'));
}
