import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { KeybatchError } from '../../src/errors.js';
import { runPipeline } from '../../src/index.js';
import { OFFLINE_CONFIG, TSX, useTempDir } from '../helpers.js';

const tempDir = useTempDir();
const childScript = fileURLToPath(new URL('./data-safety-child.ts', import.meta.url));
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

/** A child run on `input` -> `output` that holds the run directory after `holdAt` records. */
async function childHolding(input: string, output: string, holdAt: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', TSX, childScript, input, output, String(holdAt)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes(`holding ${holdAt}\n`)) resolve();
    });
    child.on('exit', (code) => reject(new Error(`the child run exited (${code}) early: ${err}`)));
  });
  return child;
}

async function laneLines(dir: string): Promise<string> {
  const names = (await readdir(dir)).filter((name) => name.startsWith('worker-')).sort();
  const texts = await Promise.all(names.map((name) => readFile(join(dir, name), 'utf8')));
  return texts.join('');
}

describe('two runs on one output', () => {
  it('a second run refuses while the first lives (even with resume: false), and takes over after its kill -9', async () => {
    const dir = await tempDir();
    const input = join(dir, 'in.jsonl');
    const output = join(dir, 'out.jsonl');
    const n = 12;
    const held = 5;
    await writeFile(input, Array.from({ length: n }, (_, i) => `{"n":${i}}\n`).join(''));
    const child = await childHolding(input, output, held);
    const recorded = await laneLines(`${output}.keybatch`);
    expect(recorded.trimEnd().split('\n')).toHaveLength(held);

    const sent: number[] = [];
    const run = (resume: boolean) =>
      runPipeline<{ n: number }, { n: number; by: string }>(
        OFFLINE_CONFIG,
        input,
        async (chunk) => {
          for (const item of chunk) sent.push(item.n);
          return chunk.map((item) => ({ n: item.n, by: 'parent' }));
        },
        {
          output,
          workers: 2,
          chunkSize: 1,
          resume,
          handleSignals: false,
          pool: { notify: false, watch: false },
        },
      );
    for (const resume of [true, false]) {
      const error = (await run(resume).catch((e: unknown) => e)) as KeybatchError;
      expect(error.code).toBe('RUN_LOCKED');
      expect(error.message).toContain(
        `${output}.keybatch is in use by another keybatch run (pid ${child.pid} `,
      );
    }
    expect(sent).toEqual([]);
    expect(await laneLines(`${output}.keybatch`)).toBe(recorded);

    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
    const { stats } = await run(true);
    expect(stats).toMatchObject({ total: n, skipped: held, done: n - held, failed: 0 });
    expect(sent.sort((a, b) => a - b)).toEqual(Array.from({ length: n - held }, (_, k) => held + k));
    const rows = (await readFile(output, 'utf8'))
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as { n: number; by: string });
    expect(rows.map((row) => row.n)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(rows.map((row) => row.by)).toEqual([
      ...Array(held).fill('child'),
      ...Array(n - held).fill('parent'),
    ]);
    expect(await readdir(`${output}.keybatch`)).not.toContain('lock');
  });
});
