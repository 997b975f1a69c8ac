import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { openRunDir } from '../../src/checkpoint/index.js';
import type { KeybatchError } from '../../src/errors.js';
import { TSX } from '../helpers.js';
import { caught, tempDir } from './helpers.js';

const init = { fingerprint: 'a'.repeat(64), options: { model: 'm' } };
const holder = fileURLToPath(new URL('./hold-run-dir.ts', import.meta.url));
const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

/** A child process holding `dir` (it has recorded item 0), once it says so. */
async function holdInChild(dir: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', TSX, holder, dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('ready\n')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`the holder exited (${code}) before it was ready: ${err}`)));
  });
  return child;
}

async function killHard(child: ChildProcess): Promise<void> {
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

describe('the run directory lock', () => {
  it('a live holder in another process refuses a second open with RUN_LOCKED naming its pid; fresh deletes nothing', async () => {
    const dir = join(await tempDir(), 'out.jsonl.keybatch');
    const child = await holdInChild(dir);
    const before = await readFile(join(dir, 'worker-0.jsonl'), 'utf8');

    const error = (await caught(openRunDir(dir, init))) as KeybatchError;
    expect(error.code).toBe('RUN_LOCKED');
    expect(error.message).toBe(
      `${dir} is in use by another keybatch run (pid ${child.pid} on ${hostname()}, since ${
        JSON.parse(await readFile(join(dir, 'lock'), 'utf8')).startedAt
      }); wait for it to finish or stop it`,
    );

    // Neither starting over nor another input may touch what the holder has.
    for (const other of [
      { ...init, fresh: true },
      { fingerprint: 'b'.repeat(64), options: {}, fresh: true },
    ]) {
      expect(((await caught(openRunDir(dir, other))) as KeybatchError).code).toBe('RUN_LOCKED');
    }
    expect(await readFile(join(dir, 'worker-0.jsonl'), 'utf8')).toBe(before);
    expect((await readdir(dir)).sort()).toEqual(['lock', 'manifest.json', 'worker-0.jsonl']);
  });

  it('after kill -9 of the holder its lock is taken over, and the run resumes with its records', async () => {
    const dir = join(await tempDir(), 'out.jsonl.keybatch');
    const child = await holdInChild(dir);
    await killHard(child);
    expect(JSON.parse(await readFile(join(dir, 'lock'), 'utf8')).pid).toBe(child.pid);

    const run = await openRunDir(dir, init);
    expect(JSON.parse(await readFile(join(dir, 'lock'), 'utf8'))).toMatchObject({
      pid: process.pid,
      hostname: hostname(),
    });
    expect([...(await run.scan()).done]).toEqual([0]);
    await run.close();
    expect(await readdir(dir)).not.toContain('lock');
  });

  it('in one process a second open is refused until the first is closed; close removes only its own lock', async () => {
    const dir = join(await tempDir(), 'out.jsonl.keybatch');
    const first = await openRunDir(dir, init);
    const error = (await caught(openRunDir(dir, init))) as KeybatchError;
    expect(error.code).toBe('RUN_LOCKED');
    expect(error.message).toContain(`pid ${process.pid}`);
    await first.close();

    const second = await openRunDir(dir, init);
    const lock = await readFile(join(dir, 'lock'), 'utf8');
    await first.close(); // again: it must not remove the second run's lock
    expect(await readFile(join(dir, 'lock'), 'utf8')).toBe(lock);
    await second.close();
  });

  it("a lock with this process's pid that this process did not take (an earlier process with the same pid) is taken over", async () => {
    const dir = join(await tempDir(), 'out.jsonl.keybatch');
    await (await openRunDir(dir, init)).close();
    const lock = { pid: process.pid, hostname: hostname(), startedAt: 'before a restart', token: 'earlier' };
    await writeFile(join(dir, 'lock'), JSON.stringify(lock));
    const run = await openRunDir(dir, init);
    expect(JSON.parse(await readFile(join(dir, 'lock'), 'utf8')).token).not.toBe('earlier');
    await run.close();
  });

  it('a lock of another host is never taken over, even if its pid is not running here', async () => {
    const dir = join(await tempDir(), 'out.jsonl.keybatch');
    await (await openRunDir(dir, init)).close();
    const lock = JSON.stringify({
      pid: 2 ** 22 + 1,
      hostname: 'build-7.example',
      startedAt: 'then',
      token: 't',
    });
    await writeFile(join(dir, 'lock'), lock);
    const error = (await caught(openRunDir(dir, init))) as KeybatchError;
    expect(error.code).toBe('RUN_LOCKED');
    expect(error.message).toContain(`pid ${2 ** 22 + 1} on host build-7.example`);
    expect(error.message).toContain(`delete ${join(dir, 'lock')}`);
    expect(await readFile(join(dir, 'lock'), 'utf8')).toBe(lock);
  });

  it('a damaged lock and the temporary files of a killed locker are cleared', async () => {
    const dir = join(await tempDir(), 'out.jsonl.keybatch');
    const child = await holdInChild(dir);
    await killHard(child);
    await writeFile(join(dir, 'lock'), '{"pid":');
    await writeFile(join(dir, `lock.new-${child.pid}-0123abcd`), '{}');
    await writeFile(join(dir, `lock.stale-${child.pid}-0123abcd`), '{}');
    const run = await openRunDir(dir, init);
    expect((await readdir(dir)).sort()).toEqual(['lock', 'manifest.json', 'worker-0.jsonl']);
    expect(JSON.parse(await readFile(join(dir, 'lock'), 'utf8')).pid).toBe(process.pid);
    await run.close();
  });
});
