import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AbortError, InputError, KeybatchError } from '../../src/errors.js';
import { runPipeline } from '../../src/pipeline/pipeline.js';
import { readRunStatus } from '../../src/pipeline/status.js';
import { collectingLogger, OFFLINE_CONFIG, useTempDir } from '../helpers.js';

const tempDir = useTempDir();
const quiet = {
  handleSignals: false,
  logger: collectingLogger(),
  pool: { watch: false, notify: false as const },
};

/** Every file under `dir` with its bytes and mtime: what "not modified" means. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) {
    const path = join(dir, name);
    const info = await stat(path);
    out[name] = `${info.mtimeMs}:${(await readFile(path)).toString('base64')}`;
  }
  return out;
}

const items = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('readRunStatus', () => {
  it('reports a finished run as complete, with the output written', async () => {
    const dir = await tempDir();
    const output = join(dir, 'out.jsonl');
    await runPipeline(OFFLINE_CONFIG, items(25), (chunk: number[]) => chunk.map((n) => n * 2), {
      ...quiet,
      output,
      chunkSize: 5,
    });
    expect(await readRunStatus(output)).toEqual({
      output,
      checkpoint: `${output}.keybatch`,
      total: 25,
      done: 25,
      failed: 0,
      pending: 0,
      complete: true,
      outputWritten: true,
    });
  });

  it('reports a stopped run as partial: done, failed, pending, not complete', async () => {
    const dir = await tempDir();
    const output = join(dir, 'out.jsonl');
    const controller = new AbortController();
    const error = await runPipeline(
      OFFLINE_CONFIG,
      items(100),
      async (chunk: number[], ctx) => {
        if (ctx.chunkIndex === 1) throw new Error('this chunk always fails');
        if (ctx.chunkIndex >= 4) {
          controller.abort();
          throw new AbortError();
        }
        return chunk;
      },
      { ...quiet, output, chunkSize: 10, workers: 1, chunkRetries: 0, signal: controller.signal },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortError);
    const status = await readRunStatus(output);
    expect(status).toMatchObject({ total: 100, done: 30, failed: 10, pending: 60, complete: false });
    expect(status.outputWritten).toBe(false);
  });

  it('changes nothing in the run directory, even one with a torn last line and a stale temp file', async () => {
    const dir = await tempDir();
    const output = join(dir, 'out.jsonl');
    const runDir = `${output}.keybatch`;
    await mkdir(runDir);
    await writeFile(
      join(runDir, 'manifest.json'),
      JSON.stringify({
        version: 1,
        fingerprint: 'x',
        options: {},
        createdAt: new Date().toISOString(),
        total: 9,
      }),
    );
    await writeFile(join(runDir, 'manifest.json.tmp-1234'), '{');
    await writeFile(join(runDir, 'worker-0.jsonl'), '{"i":0,"r":1}\n{"i":1,"r":2}\n{"i":2,"r"');
    await writeFile(join(runDir, 'worker-3.jsonl'), '{"i":5,"e":{"name":"Error","message":"no"}}\n');
    const before = await snapshot(runDir);
    const status = await readRunStatus(output);
    expect(status).toMatchObject({
      total: 9,
      done: 2,
      failed: 1,
      pending: 6,
      complete: false,
      outputWritten: false,
    });
    expect(await snapshot(runDir)).toEqual(before);
  });

  it('refuses a path with no checkpoint, naming it, and creates nothing', async () => {
    const dir = await tempDir();
    const output = join(dir, 'never-run.jsonl');
    const error = await readRunStatus(output).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).message).toContain(`${output}: no checkpoint found`);
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses an unreadable manifest with CHECKPOINT_INVALID', async () => {
    const dir = await tempDir();
    const output = join(dir, 'out.jsonl');
    await mkdir(`${output}.keybatch`);
    await writeFile(join(`${output}.keybatch`, 'manifest.json'), 'not json');
    const error = await readRunStatus(output).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeybatchError);
    expect((error as KeybatchError).code).toBe('CHECKPOINT_INVALID');
  });
});
