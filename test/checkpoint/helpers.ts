import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';

const made: string[] = [];

afterEach(async () => {
  for (const dir of made.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** A fresh temp directory, removed after the test. */
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'keybatch-checkpoint-'));
  made.push(dir);
  return dir;
}

/** Catches what `promiseOrFn` throws (the test fails if it throws nothing). */
export async function caught(promiseOrFn: Promise<unknown> | (() => unknown)): Promise<Error> {
  try {
    await (typeof promiseOrFn === 'function' ? promiseOrFn() : promiseOrFn);
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error, got none');
}
