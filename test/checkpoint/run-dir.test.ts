import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openRunDir } from '../../src/checkpoint/index.js';
import { CheckpointMismatchError, KeybatchError } from '../../src/errors.js';
import { caught, tempDir } from './helpers.js';

const init = { fingerprint: 'a'.repeat(64), options: { chunkSize: 10, model: 'gpt-4o-mini' } };

async function runDirIn(): Promise<string> {
  return join(await tempDir(), 'out.jsonl.keybatch');
}

/** A run directory made with `init` holding one record, closed. */
async function withRecord(dir: string): Promise<void> {
  const run = await openRunDir(dir, init);
  run.openLane(0).append([{ i: 0, r: 'zero' }]);
  await run.close();
}

describe('openRunDir', () => {
  it('a fresh directory gets a manifest with the fingerprint and options', async () => {
    const dir = await runDirIn();
    const run = await openRunDir(dir, init);
    const onDisk = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    expect(onDisk).toEqual(run.manifest);
    expect(onDisk).toMatchObject({ version: 1, fingerprint: init.fingerprint, options: init.options });
    expect(Number.isNaN(Date.parse(onDisk.createdAt))).toBe(false);
    expect((await readdir(dir)).sort()).toEqual(['lock', 'manifest.json']);
    await run.close();
    expect(await readdir(dir)).toEqual(['manifest.json']);
  });

  it('reopening with the same fingerprint and options resumes with the lane files kept', async () => {
    const dir = await runDirIn();
    const first = await openRunDir(dir, init);
    const lane = first.openLane(0);
    lane.append([{ i: 0, r: 'zero' }]);
    await first.close();

    // Key order and undefined members do not count as differences.
    const again = await openRunDir(dir, {
      fingerprint: init.fingerprint,
      options: { model: 'gpt-4o-mini', chunkSize: 10, unused: undefined },
    });
    expect(again.manifest.createdAt).toBe(first.manifest.createdAt);
    const scan = await again.scan();
    expect(scan.done.has(0)).toBe(true);
    expect(scan.lines).toBe(1);
  });

  it('a different fingerprint is refused, naming the directory and how to start fresh', async () => {
    const dir = await runDirIn();
    await withRecord(dir);
    const error = await caught(openRunDir(dir, { ...init, fingerprint: 'b'.repeat(64) }));
    expect(error).toBeInstanceOf(CheckpointMismatchError);
    expect((error as KeybatchError).code).toBe('CHECKPOINT_MISMATCH');
    expect(error.message).not.toContain('\n');
    expect(error.message).toContain(dir);
    expect(error.message).toContain('different input');
    expect(error.message).toContain('aaaaaaaaaaaa… -> bbbbbbbbbbbb…');
    expect(error.message).toContain('--fresh');
    expect(error.message).toContain('resume: false');
    expect(error.message).toContain(`delete ${dir}`);
  });

  it('a different option is refused, naming the option with its old and new values', async () => {
    const dir = await runDirIn();
    await withRecord(dir);
    const error = await caught(
      openRunDir(dir, { ...init, options: { chunkSize: 20, model: 'gpt-4o-mini', temperature: 0.5 } }),
    );
    expect(error).toBeInstanceOf(CheckpointMismatchError);
    expect(error.message).not.toContain('different input');
    expect(error.message).toContain('chunkSize: 10 -> 20');
    expect(error.message).toContain('temperature: (unset) -> 0.5');
    expect(error.message).not.toContain('model');
    expect(error.message).toContain(dir);
  });

  it('fresh wipes the lane files and writes a new manifest', async () => {
    const dir = await runDirIn();
    const first = await openRunDir(dir, init);
    for (const id of [0, 3]) {
      const lane = first.openLane(id);
      lane.append([{ i: id, r: id }]);
      lane.close();
    }
    await first.close();
    const fresh = await openRunDir(dir, { fingerprint: 'c'.repeat(64), options: {}, fresh: true });
    expect((await readdir(dir)).sort()).toEqual(['lock', 'manifest.json']);
    expect(fresh.manifest.fingerprint).toBe('c'.repeat(64));
    const scan = await fresh.scan();
    expect(scan.done.size).toBe(0);
    expect(scan.maxLane).toBe(-1);
    await fresh.close();
    // And the new manifest is what a resume now compares against.
    await expect(openRunDir(dir, { fingerprint: 'c'.repeat(64), options: {} })).resolves.toBeDefined();
  });

  it('a corrupt manifest is CHECKPOINT_INVALID naming the file, and fresh replaces it', async () => {
    const dir = await runDirIn();
    await withRecord(dir);
    const manifest = join(dir, 'manifest.json');
    await writeFile(manifest, '{"version":1,"fingerpr');
    const error = await caught(openRunDir(dir, init));
    expect(error).toBeInstanceOf(KeybatchError);
    expect(error).not.toBeInstanceOf(CheckpointMismatchError);
    expect((error as KeybatchError).code).toBe('CHECKPOINT_INVALID');
    expect(error.message).toContain(manifest);

    await writeFile(manifest, JSON.stringify({ version: 2, fingerprint: 'x', options: {}, createdAt: '' }));
    expect((await caught(openRunDir(dir, init))).message).toContain('"version" 2');

    const fresh = await openRunDir(dir, { ...init, fresh: true });
    expect(fresh.manifest.fingerprint).toBe(init.fingerprint);
  });

  it('a checkpoint without any record is replaced, not refused, when the input or options differ', async () => {
    const dir = await runDirIn();
    const first = await openRunDir(dir, init);
    first.openLane(0).close(); // an empty lane file, as a run that failed fast leaves
    await writeFile(join(dir, 'worker-1.jsonl'), '{"i":0,"r":"torn');
    await first.close();
    const other = { fingerprint: 'd'.repeat(64), options: { model: 'gpt-4.1' } };
    const run = await openRunDir(dir, other);
    expect(run.manifest).toMatchObject(other);
    expect(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'))).toMatchObject(other);
    expect((await readdir(dir)).sort()).toEqual(['lock', 'manifest.json']);
    await run.close();
  });

  it('an unreadable manifest with no record beside it is replaced', async () => {
    const dir = await runDirIn();
    await (await openRunDir(dir, init)).close();
    await writeFile(join(dir, 'manifest.json'), '{"version":1,"fingerpr');
    const run = await openRunDir(dir, init);
    expect(run.manifest.fingerprint).toBe(init.fingerprint);
    await run.close();
  });

  it('merge records the output it wrote; a later open with that output accepts it, and another file not', async () => {
    const root = await tempDir();
    const dir = join(root, 'out.jsonl.keybatch');
    const output = join(root, 'out.jsonl');
    const run = await openRunDir(dir, { ...init, output });
    run.openLane(0).append([{ i: 0, r: 'zero' }]);
    await run.merge(output, 1);
    const info = await stat(output);
    expect(run.manifest.output).toEqual({ size: info.size, mtimeMs: info.mtimeMs });
    expect(run.manifest.previousOutput).toBeUndefined();
    await run.merge(output, 1); // a second merge: the first output was replaced
    expect(run.manifest.previousOutput).toBeUndefined();
    await run.close();
    await (await openRunDir(dir, { ...init, output })).close();

    // As a merge killed between recording its output and the rename leaves it: the file in place
    // is the previous output, still this run's.
    const manifestPath = join(dir, 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
    const now = await stat(output);
    manifest.previousOutput = { size: now.size, mtimeMs: now.mtimeMs };
    manifest.output = { size: now.size + 7, mtimeMs: now.mtimeMs + 1 };
    await writeFile(manifestPath, JSON.stringify(manifest));
    await (await openRunDir(dir, { ...init, output })).close();

    delete manifest.previousOutput;
    await writeFile(manifestPath, JSON.stringify(manifest));
    const error = await caught(openRunDir(dir, { ...init, output }));
    expect((error as KeybatchError).code).toBe('OUTPUT_REFUSED');
    expect(await readdir(dir)).not.toContain('lock');
  });

  it('lane files without a manifest are refused rather than adopted', async () => {
    const dir = await runDirIn();
    const run = await openRunDir(dir, init);
    run.openLane(0).append([{ i: 0, r: 1 }]);
    await run.close();
    await rm(join(dir, 'manifest.json'));
    const error = await caught(openRunDir(dir, init));
    expect((error as KeybatchError).code).toBe('CHECKPOINT_INVALID');
    expect(error.message).toContain(dir);
  });

  it('setTotal records the input size and completion in the manifest, the last call winning', async () => {
    const dir = await runDirIn();
    const run = await openRunDir(dir, init);
    await Promise.all([run.setTotal(5), run.setTotal(7, false), run.setTotal(9, true)]);
    expect(run.manifest).toMatchObject({ total: 9, complete: true });
    const onDisk = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    expect(onDisk).toMatchObject({ total: 9, complete: true, fingerprint: init.fingerprint });
    expect((await readdir(dir)).sort()).toEqual(['lock', 'manifest.json']);
    await run.close();
    const reopened = await openRunDir(dir, init);
    expect(reopened.manifest.total).toBe(9);
  });

  it('a lane has one writer at a time and remove deletes the directory', async () => {
    const dir = await runDirIn();
    const run = await openRunDir(dir, init);
    const lane = run.openLane(2);
    expect(() => run.openLane(2)).toThrow(/already open/);
    expect(() => run.openLane(-1)).toThrow(RangeError);
    lane.close();
    const again = run.openLane(2);
    again.append([{ i: 1, r: true }]);
    await run.remove();
    await expect(stat(dir)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(() => again.append([{ i: 2, r: true }])).toThrow(/closed/);
  });
});
