// A lane writer on a real full disk: a 256 KiB tmpfs mounted for the test (CI runs as root;
// without root the test fails saying so).
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openRunDir, scanRunDir } from '../../src/checkpoint/index.js';
import type { KeybatchError } from '../../src/errors.js';
import { fillDisk, useTmpfs } from '../tmpfs.js';
import { caught, tempDir } from './helpers.js';

const mount = useTmpfs();
const smallDisk = async (): Promise<string> => mount(await tempDir(), 'size=256k');

describe('a lane append on a full disk', () => {
  it('is rolled back to the last whole record and names the file; the next append after freeing space is clean', async () => {
    const disk = await smallDisk();
    const run = await openRunDir(join(disk, 'run'), { fingerprint: 'f'.repeat(64), options: {} });
    const lane = run.openLane(0);
    const path = join(disk, 'run', 'worker-0.jsonl');
    lane.append([{ i: 0, r: 'first' }]);
    const good = await readFile(path, 'utf8');
    const filler = fillDisk(disk, 8 * 1024);

    // Far more than the room left: the write stops part way through, then fails.
    const big = Array.from({ length: 40 }, (_, k) => ({ i: k + 1, r: 'y'.repeat(1000) }));
    const error = (await caught(() => lane.append(big))) as KeybatchError;
    expect(error.code).toBe('CHECKPOINT_WRITE');
    expect(error.message).toBe(
      `${path}: no space left on device (ENOSPC); nothing was lost, free space and rerun to resume`,
    );
    expect((await stat(path)).size).toBe(Buffer.byteLength(good));

    await rm(filler);
    lane.append([{ i: 1, r: 'after' }]);
    expect(await readFile(path, 'utf8')).toBe(`${good}{"i":1,"r":"after"}\n`);
    const scan = await scanRunDir(join(disk, 'run'));
    expect(scan).toMatchObject({ lines: 2, tornLines: 0, corruptLines: 0 });
    await run.close();
  });

  it('opening a run directory on a full disk is CHECKPOINT_WRITE naming what could not be written', async () => {
    const disk = await smallDisk();
    fillDisk(disk, 0);
    const error = (await caught(
      openRunDir(join(disk, 'run'), { fingerprint: 'f'.repeat(64), options: {} }),
    )) as KeybatchError;
    expect(error.code).toBe('CHECKPOINT_WRITE');
    expect(error.message).toMatch(
      /: no space left on device \(ENOSPC\); nothing was lost, free space and rerun to resume$/,
    );
    expect(error.message).toContain(join(disk, 'run'));
  });
});
