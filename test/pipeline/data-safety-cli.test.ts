// The data-safety refusals seen from the command line: one line on stderr, exit 2, nothing sent.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, fstatSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { cli, KEYS, readJsonl, tempDirs, writeConfig, writeJsonl } from '../cli/helpers.js';
import { TSX } from '../helpers.js';
import { mountTmpfs } from '../tmpfs.js';

const tempDir = tempDirs();
const holder = fileURLToPath(new URL('../checkpoint/hold-run-dir.ts', import.meta.url));
let sim: Simulator;
const cleanups: Array<() => void> = [];
beforeAll(async () => {
  sim = await startSimulator({ keys: [{ key: KEYS.good }] });
});
afterAll(async () => {
  await sim.close();
});
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

async function setup(n: number, dir?: string) {
  const root = await tempDir();
  const config = join(root, 'config.json');
  const input = join(root, 'in.jsonl');
  await writeConfig(config, [{ api_key: KEYS.good, base_url: sim.url }]);
  await writeJsonl(
    input,
    Array.from({ length: n }, (_, i) => ({ prompt: `item ${i} ${'padding '.repeat(60)}` })),
  );
  const output = join(dir ?? root, 'out.jsonl');
  const run = (...extra: string[]) =>
    cli(['run', input, '-o', output, '-c', config, '-m', 'gpt-4o-mini', '--quiet', ...extra], { cwd: root });
  return { root, input, output, run };
}

const requests = () => sim.stats().requests;

async function holdInChild(dir: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', TSX, holder, dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  cleanups.push(() => child.kill('SIGKILL'));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('ready\n')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`the holder exited (${code}) before it was ready`)));
  });
  return child;
}

function oneLine(stderr: string): string {
  const lines = stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  return lines[0]!;
}

describe('keybatch run refuses what is not safe, with exit 2', () => {
  it('a run directory held by another live run', async () => {
    const { output, run } = await setup(3);
    const child = await holdInChild(`${output}.keybatch`);
    const before = requests();
    const result = await run();
    expect(result.code).toBe(2);
    expect(oneLine(result.stderr)).toContain(
      `${output}.keybatch is in use by another keybatch run (pid ${child.pid} on `,
    );
    expect(requests()).toBe(before);
  });

  it('-o the input; -o a file keybatch did not write, which --overwrite then replaces', async () => {
    const { root, input, output, run } = await setup(3);
    const before = requests();
    const asInput = await cli(
      ['run', input, '-o', input, '-c', join(root, 'config.json'), '-m', 'gpt-4o-mini'],
      {
        cwd: root,
      },
    );
    expect(asInput.code).toBe(2);
    expect(oneLine(asInput.stderr)).toContain(`Output ${input} is the input file`);

    await writeFile(output, 'mine\n');
    const foreign = await run();
    expect(foreign.code).toBe(2);
    expect(oneLine(foreign.stderr)).toContain(`Output ${output} exists and is not this run's output`);
    expect(await readFile(output, 'utf8')).toBe('mine\n');
    expect(requests()).toBe(before);

    const replaced = await run('--overwrite');
    expect(replaced.code).toBe(0);
    expect((await readJsonl(output)).map((row) => row['id'])).toEqual([0, 1, 2]);
  });

  it('a full disk names the lane file and says the run is resumable; after freeing space only the record whose write failed is sent again', async () => {
    const disk = await tempDir();
    cleanups.push(mountTmpfs(disk, 'size=512k'));
    const { output, run } = await setup(60, disk);
    const filler = join(disk, 'filler');
    const fd = openSync(filler, 'w');
    try {
      for (;;) writeSync(fd, Buffer.alloc(64 * 1024, 0x78));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
    }
    ftruncateSync(fd, fstatSync(fd).size - 48 * 1024);
    closeSync(fd);

    const before = requests();
    const full = await run('--workers', '1', '--concurrency', '1');
    expect(full.code).toBe(2);
    expect(oneLine(full.stderr)).toBe(
      `keybatch: ${join(`${output}.keybatch`, 'worker-0.jsonl')}: no space left on device (ENOSPC); nothing was lost, free space and rerun to resume`,
    );
    const firstRun = requests() - before;
    expect(firstRun).toBeGreaterThan(0);
    expect(firstRun).toBeLessThan(60);

    await rm(filler);
    const again = await run();
    expect(again.code).toBe(0);
    const rows = await readJsonl(output);
    expect(rows.map((row) => row['id'])).toEqual(Array.from({ length: 60 }, (_, i) => i));
    // Only the record whose append failed is sent twice.
    expect(requests() - before).toBe(61);
    expect((await readdir(disk)).sort()).toEqual(['out.jsonl', 'out.jsonl.keybatch']);
  });
});
