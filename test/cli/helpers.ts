/**
 * Running the real `keybatch` command in a child process (`node dist/cli/main.js`, built from `src/`),
 * with an environment that has no OPENAI_API_KEY / KEYBATCH_CONFIG, and checking that nothing it
 * prints holds a full key.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect } from 'vitest';
import { CLI } from '../helpers.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const MAIN = CLI;

/** Every key the CLI tests use: none may ever be printed or written in full. */
export const KEYS = Object.freeze({
  good: 'sk-test-cli-good-key-1001',
  good2: 'sk-test-cli-good-key-1002',
  spent: 'sk-test-cli-spent-key-2001',
  unknown: 'sk-test-cli-unknown-key-3001',
  onlyBig: 'sk-test-cli-only-4o-key-4001',
  slow: 'sk-test-cli-slow-key-5001',
});

/** The environment of a child: the test's, without anything that would give it a key pool. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const name of ['OPENAI_API_KEY', 'OPENAI_BASE_URL', 'KEYBATCH_CONFIG', 'OPENAI_ORG_ID', 'LARK_HOOK']) {
    if (!(name in extra)) delete env[name];
  }
  return env;
}

/** Fails the test if `text` holds any full key of `keys`. */
export function expectNoFullKey(text: string, keys: readonly string[] = Object.values(KEYS)): void {
  for (const key of keys) expect(text, `a full key (${key.slice(-4)}) was shown`).not.toContain(key);
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Started {
  proc: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Resolves when the child exits; its output was checked for full keys. */
  done: Promise<CliResult>;
}

/** Starts `keybatch <args>` in `cwd`. */
export function startCli(args: string[], options: { cwd: string; env?: Record<string, string> }): Started {
  const proc = spawn(process.execPath, [MAIN, ...args], {
    cwd: options.cwd,
    env: childEnv(options.env),
    stdio: 'pipe',
  });
  proc.stdin.end();
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  proc.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const done = new Promise<CliResult>((resolve, reject) => {
    proc.on('close', (code, signal) => {
      try {
        expectNoFullKey(stdout + stderr);
        resolve({ code, signal, stdout, stderr });
      } catch (error) {
        reject(error);
      }
    });
  });
  return { proc, stdout: () => stdout, stderr: () => stderr, done };
}

/** Runs `keybatch <args>` to the end. */
export function cli(
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<CliResult> {
  return startCli(args, options).done;
}

/** Temp directories for concurrent tests, removed when the file is done. */
export function tempDirs(): () => Promise<string> {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });
  return async () => {
    const dir = await mkdtemp(join(tmpdir(), 'keybatch-cli-'));
    dirs.push(dir);
    return dir;
  };
}

export async function writeJsonl(path: string, records: unknown[]): Promise<void> {
  await writeFile(path, records.map((record) => JSON.stringify(record)).join('\n') + '\n');
}

export async function readJsonl(path: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(path, 'utf8');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

export async function writeConfig(path: string, keys: Array<Record<string, unknown>>): Promise<void> {
  await writeFile(path, `${JSON.stringify({ key_list: keys }, null, 2)}\n`);
}

/** Complete records (lines ending in `}`) over every lane file of a run directory. */
export async function checkpointLines(dir: string): Promise<number> {
  const names = await readdir(dir).catch(() => [] as string[]);
  let lines = 0;
  for (const name of names.filter((n) => /^worker-\d+\.jsonl$/.test(n))) {
    const text = await readFile(join(dir, name), 'utf8');
    lines += text.split('\n').filter((line) => line.endsWith('}')).length;
  }
  return lines;
}

/** Each file of `dir` with its size, mtime and bytes: equal snapshots mean nothing was modified. */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) {
    const path = join(dir, name);
    const info = await stat(path);
    out[name] = `${info.size}:${info.mtimeMs}:${(await readFile(path)).toString('base64')}`;
  }
  return out;
}

/** Every file under `dir` but the config files (which hold the keys), as text, for privacy checks. */
export async function allText(dir: string): Promise<string> {
  let text = '';
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && !entry.name.endsWith('config.json')) {
      text += await readFile(join(entry.parentPath, entry.name), 'utf8');
    }
  }
  return text;
}
