// A real full disk: a 512 KiB tmpfs mounted for the test (CI runs as root; without root the test
// fails saying so), filled to a few pages, then freed again.
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scanRunDir } from '../../src/checkpoint/index.js';
import type { KeybatchError } from '../../src/errors.js';
import { runPipeline } from '../../src/index.js';
import { OFFLINE_CONFIG, useTempDir } from '../helpers.js';
import { fillDisk, useTmpfs } from '../tmpfs.js';

const tempDir = useTempDir();
const mount = useTmpfs();
const smallDisk = async (): Promise<string> => mount(await tempDir(), 'size=512k');

type Item = { n: number };
type Row = { n: number; text: string };

function pipeline(output: string, items: Item[], sent: number[]) {
  return runPipeline<Item, Row>(
    OFFLINE_CONFIG,
    items,
    async (chunk) => {
      for (const item of chunk) sent.push(item.n);
      return chunk.map((item) => ({ n: item.n, text: `${item.n} `.repeat(300).slice(0, 900) }));
    },
    {
      output,
      workers: 1,
      chunkSize: 3,
      chunkRetryDelayMs: 0,
      handleSignals: false,
      pool: { notify: false, watch: false },
    },
  );
}

async function rows(output: string): Promise<number[]> {
  const text = await readFile(output, 'utf8');
  return text
    .trimEnd()
    .split('\n')
    .map((line) => (JSON.parse(line) as Row).n);
}

describe('a full disk', () => {
  it('an append that hits ENOSPC is rolled back and named; after freeing space the rerun does each item exactly once', async () => {
    const disk = await smallDisk();
    const output = join(disk, 'out.jsonl');
    const laneFile = join(`${output}.keybatch`, 'worker-0.jsonl');
    const items = Array.from({ length: 120 }, (_, n) => ({ n }));
    const filler = fillDisk(disk, 40 * 1024);

    const first: number[] = [];
    const error = (await pipeline(output, items, first).catch((e: unknown) => e)) as KeybatchError;
    expect(error.code).toBe('CHECKPOINT_WRITE');
    expect(error.message).toBe(
      `${laneFile}: no space left on device (ENOSPC); nothing was lost, free space and rerun to resume`,
    );
    // Whole records only: no partial bytes left behind for the next append to glue onto.
    const text = await readFile(laneFile, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    for (const line of text.trimEnd().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
    const scan = await scanRunDir(`${output}.keybatch`);
    expect(scan).toMatchObject({ tornLines: 0, corruptLines: 0 });
    expect(scan.done.size).toBeGreaterThan(0);
    expect(scan.done.size).toBeLessThan(items.length);
    expect(await readdir(`${output}.keybatch`)).not.toContain('lock');

    await rm(filler);
    const second: number[] = [];
    const { stats } = await pipeline(output, items, second);
    expect(stats).toMatchObject({ total: 120, skipped: scan.done.size, failed: 0 });
    expect(second.filter((n) => scan.done.has(n))).toEqual([]);
    expect(new Set([...scan.done, ...second]).size).toBe(120);
    expect(await rows(output)).toEqual(items.map((item) => item.n));
    expect((await readdir(disk)).sort()).toEqual(['out.jsonl', 'out.jsonl.keybatch']);
  });

  it('a merge that hits ENOSPC leaves no temporary file and the whole checkpoint; the rerun only writes the output', async () => {
    const disk = await smallDisk();
    const output = join(disk, 'out.jsonl');
    const items = Array.from({ length: 40 }, (_, n) => ({ n }));
    // Room for the lane file (~37 KiB), not for the output beside it.
    const filler = fillDisk(disk, 60 * 1024);

    const first: number[] = [];
    const error = (await pipeline(output, items, first).catch((e: unknown) => e)) as KeybatchError;
    expect(error.code).toBe('CHECKPOINT_WRITE');
    expect(error.message).toBe(
      `${output}: no space left on device (ENOSPC); the checkpoint is kept whole, free space and rerun to write the output`,
    );
    expect(first).toHaveLength(40);
    expect((await readdir(disk)).sort()).toEqual(['filler', 'out.jsonl.keybatch']);

    await rm(filler);
    const second: number[] = [];
    const { stats } = await pipeline(output, items, second);
    expect(stats).toMatchObject({ skipped: 40, done: 0 });
    expect(second).toEqual([]);
    expect(await rows(output)).toEqual(items.map((item) => item.n));
  });
});
