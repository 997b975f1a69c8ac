/**
 * The run directory's lock, `<dir>/lock`: one writer per run directory.
 *
 * The lock file holds `{pid, hostname, startedAt, token}` and is made whole before it appears: the
 * content goes to a temporary file that is hard-linked to `lock` (the link fails if `lock` exists,
 * like O_EXCL). A lock whose process is gone (same host, `kill(pid, 0)` says ESRCH) is taken over:
 * it is moved aside, checked to be the very file found dead (if a live lock was moved by a racing
 * taker, it is put back), and the new lock is linked in its place. A lock of another host is never
 * taken over (its process cannot be checked from here).
 */

import { randomUUID } from 'node:crypto';
import { link, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { KeybatchError } from '../errors.js';
import { checkpointWriteError } from './write-error.js';

export const LOCK_FILE = 'lock';
const LOCK_TEMP = /^lock\.(?:new|stale)-(\d+)-/;
/** Tries before giving up when the lock keeps changing hands between looks (races only). */
const MAX_TRIES = 20;

/** What a lock file says about its holder. */
export interface LockOwner {
  pid: number;
  hostname: string;
  startedAt: string;
  /** Unique per acquisition: tells this lock from a later one of the same pid. */
  token: string;
}

export interface RunLock {
  readonly path: string;
  readonly owner: LockOwner;
  /** Deletes the lock file if it is still this one. Idempotent. */
  release(): Promise<void>;
}

/** Whether process `pid` runs on this machine (EPERM: it does, as another user). */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** Tokens of the locks this process holds now (shared by every copy of keybatch loaded in it). */
const HELD = Symbol.for('keybatch.heldRunLocks');
const registry = globalThis as Record<symbol, Set<string> | undefined>;
registry[HELD] ??= new Set();
const heldHere = registry[HELD];

/**
 * Whether the lock's holder may still be running (another host's always may). A lock with this
 * process's own pid is live only if this process took it: else an earlier process had the same
 * pid (a container's pid 1, restarted).
 */
function holderAlive(owner: LockOwner): boolean {
  if (owner.hostname !== hostname()) return true;
  if (owner.pid === process.pid) return heldHere.has(owner.token);
  return isProcessAlive(owner.pid);
}

/**
 * Whether a live process (or one of another host) holds `<dir>/lock` now: a run is still writing
 * that directory. Read-only; an unreadable lock holds nothing.
 */
export async function runLockHeld(dir: string): Promise<boolean> {
  const found = await readLock(join(dir, LOCK_FILE));
  return found?.owner !== undefined && holderAlive(found.owner);
}

function lockedError(dir: string, owner: LockOwner): KeybatchError {
  const where = owner.hostname === hostname() ? owner.hostname : `host ${owner.hostname}`;
  const remedy =
    owner.hostname === hostname()
      ? 'wait for it to finish or stop it'
      : `a lock of another host is never taken over: wait for that run to finish, or delete ${join(dir, LOCK_FILE)} if it is gone`;
  return new KeybatchError(
    'RUN_LOCKED',
    `${dir} is in use by another keybatch run (pid ${owner.pid} on ${where}, since ${owner.startedAt}); ${remedy}`,
  );
}

/** The lock's text and holder; `owner` undefined if unreadable. Undefined if there is no lock. */
async function readLock(path: string): Promise<{ text: string; owner: LockOwner | undefined } | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return { text, owner: parseOwner(text) };
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const data = JSON.parse(text) as Partial<LockOwner> | null;
    if (
      data !== null &&
      typeof data === 'object' &&
      Number.isSafeInteger(data.pid) &&
      typeof data.hostname === 'string' &&
      typeof data.token === 'string'
    ) {
      return {
        pid: data.pid!,
        hostname: data.hostname,
        startedAt: typeof data.startedAt === 'string' ? data.startedAt : '?',
        token: data.token,
      };
    }
  } catch {
    // Unreadable: nothing holds it (a lock appears whole, so only damage makes one unreadable).
  }
  return undefined;
}

/** Makes `path` a second name of `from` unless `path` exists; false if it exists. */
async function linkIfAbsent(from: string, path: string, text: string): Promise<boolean> {
  try {
    await link(from, path);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS' && code !== 'EOPNOTSUPP') throw error;
  }
  // A file system without hard links: exclusive create (the content follows a moment later).
  try {
    await writeFile(path, text, { flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/**
 * Takes `<dir>/lock` (the directory must exist). Throws KeybatchError RUN_LOCKED naming the
 * holder's pid and host when another live process holds it, CHECKPOINT_WRITE when it cannot be written.
 */
export async function acquireRunLock(dir: string): Promise<RunLock> {
  const path = join(dir, LOCK_FILE);
  const owner: LockOwner = {
    pid: process.pid,
    hostname: hostname(),
    startedAt: new Date().toISOString(),
    token: randomUUID(),
  };
  const text = `${JSON.stringify(owner)}\n`;
  const temp = `${path}.new-${process.pid}-${owner.token.slice(0, 8)}`;
  try {
    await writeFile(temp, text);
  } catch (error) {
    await rm(temp, { force: true });
    throw checkpointWriteError(path, error);
  }
  try {
    for (let tries = 0; tries < MAX_TRIES; tries++) {
      if (await linkIfAbsent(temp, path, text)) return new FileRunLock(path, owner);
      const held = await readLock(path);
      if (!held) continue; // released between our two looks
      if (held.owner && held.owner.token === owner.token) return new FileRunLock(path, owner);
      if (held.owner && holderAlive(held.owner)) throw lockedError(dir, held.owner);
      await moveAsideIfUnchanged(path, held.text, owner.token);
    }
  } finally {
    await rm(temp, { force: true });
  }
  throw new KeybatchError(
    'RUN_LOCKED',
    `${dir}: its lock ${path} kept changing hands while it was being taken; another keybatch run is starting on it`,
  );
}

/** Removes the dead lock at `path`, which read as `text`; a different (live) lock found there is put back. */
async function moveAsideIfUnchanged(path: string, text: string, token: string): Promise<void> {
  const aside = `${path}.stale-${process.pid}-${token.slice(0, 8)}`;
  try {
    await rename(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    const moved = await readFile(aside, 'utf8');
    // Another taker replaced the dead lock between our read and the move: its lock goes back.
    if (moved !== text) await link(aside, path).catch(() => {});
  } finally {
    await rm(aside, { force: true });
  }
}

/** Temporary lock files (`lock.new-<pid>-…`, `lock.stale-<pid>-…`) of processes that are gone. */
export async function removeStaleLockTemps(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    const match = LOCK_TEMP.exec(name);
    if (match && !isProcessAlive(Number(match[1]))) await rm(join(dir, name), { force: true });
  }
}

class FileRunLock implements RunLock {
  readonly path: string;
  readonly owner: LockOwner;
  #released = false;

  constructor(path: string, owner: LockOwner) {
    this.path = path;
    this.owner = owner;
    heldHere.add(owner.token);
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    heldHere.delete(this.owner.token);
    const held = await readLock(this.path).catch(() => undefined);
    if (held?.owner?.token === this.owner.token) await rm(this.path, { force: true });
  }
}
