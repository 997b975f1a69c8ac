import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach } from 'vitest';
import type { Logger } from '../src/logger.js';

/** `--import` value that loads tsx whatever the child's working directory. */
export const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/**
 * The built `keybatch` command (`dist/cli/main.js`): children start it with plain `node`, in a third of
 * the time tsx takes to compile the source. `test/setup/build.ts` rebuilds `dist/` when `src/` is newer.
 */
export const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

/** A fresh temp directory, removed after the test. */
export function useTempDir(): () => Promise<string> {
  const dirs: string[] = [];
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  });
  return async () => {
    const dir = await mkdtemp(join(tmpdir(), 'keybatch-test-'));
    dirs.push(dir);
    return dir;
  };
}

/** A logger that keeps every line, for assertions. */
export function collectingLogger(): Logger & { lines: string[]; text(): string } {
  const lines: string[] = [];
  const push = (level: string) => (message: string) => {
    lines.push(`${level}: ${message}`);
  };
  return {
    lines,
    text: () => lines.join('\n'),
    debug: push('debug'),
    info: push('info'),
    warn: push('warn'),
    error: push('error'),
  };
}

/** Resolves when `predicate` holds, polling every few ms (for state reached through I/O). */
export async function until(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A config object with fake keys (for runs whose task makes no requests). */
export const OFFLINE_CONFIG = { key_list: [{ api_key: 'sk-offline-test-key-0000' }] };

/** A local webhook receiver on 127.0.0.1 that records every JSON body with its arrival time. */
export async function receiver(): Promise<{
  url: string;
  bodies: Array<{ at: number; path: string; body: unknown }>;
  close(): Promise<void>;
}> {
  const bodies: Array<{ at: number; path: string; body: unknown }> = [];
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (d) => {
      text += d;
    });
    req.on('end', () => {
      bodies.push({ at: Date.now(), path: req.url ?? '', body: JSON.parse(text) });
      res.end('{"code":0}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/hook`,
    bodies,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Things to close after each test (simulators, pools, servers), in one list. */
export function useCleanup(): <T extends { close(): Promise<void> }>(thing: T) => T {
  const open: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((thing) => thing.close()));
  });
  return (thing) => {
    open.push(thing);
    return thing;
  };
}
