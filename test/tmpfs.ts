/**
 * Real small and full disks for the data-safety tests: a tmpfs mounted on a directory (CI runs as
 * root). Where it cannot be mounted the test fails saying why: never a silent skip.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, fstatSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach } from 'vitest';

/**
 * Mounts a tmpfs with mount `options` (`size=256k`, `ro,size=64k`) on the existing directory `dir`;
 * returns what unmounts it.
 */
export function mountTmpfs(dir: string, options: string): () => void {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (error) {
    throw new Error(
      `this test needs a real tmpfs (${options}): mounting one on ${dir} failed (run the tests as root): ${(error as Error).message}`,
    );
  }
  return () => execFileSync('umount', ['-l', dir]);
}

/** `mount(dir, options)` mounts a tmpfs on `dir` that is unmounted after the test. */
export function useTmpfs(): (dir: string, options: string) => string {
  const mounted: Array<() => void> = [];
  afterEach(() => {
    for (const unmount of mounted.splice(0)) unmount();
  });
  return (dir, options) => {
    mounted.push(mountTmpfs(dir, options));
    return dir;
  };
}

/** Fills the file system of `dir` with `dir/filler`, then frees `free` bytes of it; returns its path. */
export function fillDisk(dir: string, free: number): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(16 * 1024, 0x78);
  try {
    for (;;) writeSync(fd, block);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  }
  ftruncateSync(fd, Math.max(0, fstatSync(fd).size - free));
  closeSync(fd);
  return path;
}
