/**
 * Dropping items from a run directory: every record (success or failure) of the given items is
 * removed from the lane files, so that the next run that resumes the directory does them again.
 * For inputs whose items can go stale while their position stays (a record's file edited). Each
 * lane file is rewritten to a temporary name and renamed into place, holding the run's lock: a kill
 * in between leaves every lane file whole, old or new, and dropping again is harmless.
 */
import { createReadStream } from 'node:fs';
import { open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { listLaneFiles } from './lane-file.js';
import { acquireRunLock } from './lock.js';
import { checkpointWriteError } from './write-error.js';

const TEMP = /^worker-\d+\.jsonl\.drop-\d+$/;
const INDEX = /^\{"i":(\d+)[,}]/;
/** Characters written at a time. */
const WRITE_CHUNK = 1024 * 1024;

/** Rewrites one lane file without the records of `drop`; resolves to how many were removed. */
async function dropFromLane(path: string, drop: ReadonlySet<number>): Promise<number> {
  const size = (await stat(path)).size;
  if (size === 0) return 0;
  const last = Buffer.alloc(1);
  const probe = await open(path, 'r');
  try {
    await probe.read(last, 0, 1, size - 1);
  } finally {
    await probe.close();
  }
  const endsWhole = last[0] === 0x0a;
  const temp = `${path}.drop-${process.pid}`;
  const out = await open(temp, 'w');
  let removed = 0;
  try {
    const lines = createInterface({ input: createReadStream(path), crlfDelay: Number.POSITIVE_INFINITY });
    let buffered: string[] = [];
    let size = 0;
    const put = async (text: string, flush = false) => {
      buffered.push(text);
      size += text.length;
      if (!flush && size < WRITE_CHUNK) return;
      await out.write(buffered.join(''));
      buffered = [];
      size = 0;
    };
    let pending: string | undefined;
    for await (const line of lines) {
      if (pending !== undefined) await put(`${pending}\n`);
      pending = undefined;
      const match = INDEX.exec(line);
      if (match && drop.has(Number(match[1]))) {
        removed += 1;
        continue;
      }
      pending = line;
    }
    // A torn last line stays torn (without its newline), as the reader expects.
    await put(pending === undefined ? '' : endsWhole ? `${pending}\n` : pending, true);
    await out.sync();
  } catch (error) {
    await out.close();
    await rm(temp, { force: true });
    throw checkpointWriteError(path, error);
  }
  await out.close();
  if (removed === 0) {
    await rm(temp, { force: true });
    return 0;
  }
  await rename(temp, path);
  return removed;
}

/**
 * Removes every record of the items `indices` from the lane files of `dir` (a missing directory:
 * nothing to do). Takes the run's lock for the time it takes (RUN_LOCKED if a live run holds it).
 * Resolves to the number of records removed.
 */
export async function dropItems(dir: string, indices: Iterable<number>): Promise<number> {
  const drop = new Set(indices);
  if (drop.size === 0) return 0;
  try {
    if (!(await stat(dir)).isDirectory()) return 0;
  } catch {
    return 0;
  }
  const lock = await acquireRunLock(dir);
  try {
    for (const name of await readdir(dir)) {
      if (TEMP.test(name)) await rm(join(dir, name), { force: true });
    }
    let removed = 0;
    for (const file of await listLaneFiles(dir)) removed += await dropFromLane(file.path, drop);
    return removed;
  } finally {
    await lock.release();
  }
}
