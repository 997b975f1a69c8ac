import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dropItems } from '../../src/checkpoint/drop.js';
import { openRunDir, scanRunDir } from '../../src/checkpoint/index.js';
import { useTempDir } from '../helpers.js';

const tempDir = useTempDir();

async function runDirWith(dir: string): Promise<string> {
  const path = join(dir, 'out.jsonl.keybatch');
  const run = await openRunDir(path, { fingerprint: 'f', options: {} });
  const lane0 = run.openLane(0);
  lane0.append([
    { i: 0, r: 'a' },
    { i: 2, r: 'c' },
    { i: 4, e: { name: 'Error', message: 'x' } },
  ]);
  const lane1 = run.openLane(1);
  lane1.append([
    { i: 1, r: 'b' },
    { i: 3, r: 'd' },
    { i: 4, r: 'e' },
  ]);
  await run.close();
  return path;
}

describe('dropItems', () => {
  it('removes every record of the items (successes and failures, all lanes); the others stay as written', async () => {
    const path = await runDirWith(await tempDir());
    const before1 = await readFile(join(path, 'worker-1.jsonl'), 'utf8');
    expect(await dropItems(path, [2, 4])).toBe(3);
    const scan = await scanRunDir(path);
    expect([...scan.done]).toEqual([0, 1, 3]);
    expect(scan.failed.size).toBe(0);
    expect(await readFile(join(path, 'worker-0.jsonl'), 'utf8')).toBe('{"i":0,"r":"a"}\n');
    expect(await readFile(join(path, 'worker-1.jsonl'), 'utf8')).toBe(
      before1.replace('{"i":4,"r":"e"}\n', ''),
    );
    // Nothing to drop: nothing rewritten, no temporary file left.
    expect(await dropItems(path, [2])).toBe(0);
    expect((await import('node:fs/promises').then((fs) => fs.readdir(path))).sort()).toEqual([
      'manifest.json',
      'worker-0.jsonl',
      'worker-1.jsonl',
    ]);
  });

  it('keeps a torn last line torn, and a missing directory is nothing to do', async () => {
    const dir = await tempDir();
    const path = await runDirWith(dir);
    await appendFile(join(path, 'worker-0.jsonl'), '{"i":9,"r":"cut sho');
    expect(await dropItems(path, [0])).toBe(1);
    expect(await readFile(join(path, 'worker-0.jsonl'), 'utf8')).toBe(
      '{"i":2,"r":"c"}\n{"i":4,"e":{"name":"Error","message":"x"}}\n{"i":9,"r":"cut sho',
    );
    expect((await scanRunDir(path)).tornLines).toBe(1);
    expect(await dropItems(join(dir, 'none.keybatch'), [1])).toBe(0);
  });

  it('refuses while a live run holds the directory', async () => {
    const dir = await tempDir();
    const path = join(dir, 'out.jsonl.keybatch');
    await mkdir(path);
    const run = await openRunDir(path, { fingerprint: 'f', options: {} });
    await writeFile(join(path, 'worker-0.jsonl'), '{"i":0,"r":1}\n');
    await expect(dropItems(path, [0])).rejects.toMatchObject({ code: 'RUN_LOCKED' });
    await run.close();
    expect(await dropItems(path, [0])).toBe(1);
  });
});
