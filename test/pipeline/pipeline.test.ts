import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CheckpointMismatchError, InputError } from '../../src/errors.js';
import { runPipeline } from '../../src/pipeline/pipeline.js';
import { collectingLogger, OFFLINE_CONFIG, useTempDir } from '../helpers.js';

const tempDir = useTempDir();
const quiet = {
  handleSignals: false,
  logger: collectingLogger(),
  pool: { watch: false, notify: false as const },
};

async function readLines(path: string): Promise<unknown[]> {
  const text = await readFile(path, 'utf8');
  return text
    .trimEnd()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

describe('runPipeline in-process', () => {
  it('returns correct ordered results for a closure over local variables', async () => {
    const offset = 1000;
    const seen: number[] = [];
    const { results, stats } = await runPipeline(
      OFFLINE_CONFIG,
      Array.from({ length: 95 }, (_, i) => i),
      async (chunk: number[], ctx) => {
        seen.push(ctx.workerId);
        await new Promise((r) => setTimeout(r, (chunk[0]! * 7) % 5));
        return chunk.map((n) => n + offset);
      },
      { ...quiet, workers: 3, chunkSize: 7, concurrency: 2 },
    );
    expect(results).toEqual(Array.from({ length: 95 }, (_, i) => i + offset));
    expect(stats).toMatchObject({ total: 95, done: 95, failed: 0, skipped: 0 });
    expect(new Set(seen).size).toBe(3);
  });

  it('processes every index exactly once, in order, for any sizes (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 300 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 3 }),
        async (n, chunkSize, workers, concurrency) => {
          const calls = new Map<number, number>();
          const { results } = await runPipeline(
            OFFLINE_CONFIG,
            Array.from({ length: n }, (_, i) => i),
            async (chunk: number[]) => {
              for (const i of chunk) calls.set(i, (calls.get(i) ?? 0) + 1);
              await Promise.resolve();
              return chunk.map((i) => i * 2);
            },
            { ...quiet, chunkSize, workers, concurrency },
          );
          expect(results).toEqual(Array.from({ length: n }, (_, i) => i * 2));
          expect([...calls.values()].every((c) => c === 1)).toBe(true);
          expect(calls.size).toBe(n);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('takes sync iterables and async iterables, streamed', async () => {
    function* gen() {
      for (let i = 0; i < 2500; i++) yield { i };
    }
    async function* agen() {
      for (let i = 0; i < 1200; i++) yield i;
    }
    const a = await runPipeline(
      OFFLINE_CONFIG,
      gen(),
      (chunk: { i: number }[]) => chunk.map((x) => x.i),
      quiet,
    );
    expect(a.results).toEqual(Array.from({ length: 2500 }, (_, i) => i));
    const b = await runPipeline(OFFLINE_CONFIG, agen(), (chunk: number[]) => chunk.map((x) => -x), quiet);
    expect(b.results).toEqual(Array.from({ length: 1200 }, (_, i) => -i));
  });

  it('retries a chunk whose fn throws, then records its items as failed and goes on', async () => {
    const attempts = new Map<number, number>();
    const logger = collectingLogger();
    const { results, stats } = await runPipeline(
      OFFLINE_CONFIG,
      Array.from({ length: 20 }, (_, i) => i),
      (chunk: number[]) => {
        const first = chunk[0]!;
        attempts.set(first, (attempts.get(first) ?? 0) + 1);
        if (first === 5) throw Object.assign(new Error('always broken'), { code: 'E_BROKEN' });
        if (first === 10 && attempts.get(first)! < 2) throw new Error('flaky once');
        return chunk;
      },
      { ...quiet, logger, chunkSize: 5, chunkRetries: 2, chunkRetryDelayMs: 1 },
    );
    expect(attempts.get(5)).toBe(3);
    expect(attempts.get(10)).toBe(2);
    expect(stats).toMatchObject({ done: 15, failed: 5, errors: { E_BROKEN: 5 } });
    expect(stats.failures.map((f) => f.index)).toEqual([5, 6, 7, 8, 9]);
    expect(results.slice(0, 5)).toEqual([0, 1, 2, 3, 4]);
    expect(results[5]).toBeUndefined();
    expect(results.slice(10)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    expect(logger.text()).toContain('chunk 1 (items 5..9) failed after 3 attempts: always broken');
  });

  it('counts results with an error field as final failures: kept, counted, not retried', async () => {
    const dir = await tempDir();
    const checkpoint = join(dir, 'run');
    let calls = 0;
    const fn = (chunk: number[]) => {
      calls += chunk.length;
      return chunk.map((n) => (n % 4 === 0 ? { n, error: { code: 'refused', message: 'no' } } : { n }));
    };
    const first = await runPipeline(
      OFFLINE_CONFIG,
      Array.from({ length: 12 }, (_, i) => i),
      fn,
      {
        ...quiet,
        checkpoint,
      },
    );
    expect(first.stats).toMatchObject({ done: 9, failed: 3, errors: { refused: 3 } });
    expect(first.results[4]).toEqual({ n: 4, error: { code: 'refused', message: 'no' } });
    const again = await runPipeline(
      OFFLINE_CONFIG,
      Array.from({ length: 12 }, (_, i) => i),
      fn,
      {
        ...quiet,
        checkpoint,
      },
    );
    expect(again.stats).toMatchObject({ done: 0, failed: 0, skipped: 12 });
    expect(calls).toBe(12);
  });

  it('uses a total given for an iterable in progress and the manifest', async () => {
    const dir = await tempDir();
    const checkpoint = join(dir, 'run');
    function* items() {
      for (let i = 0; i < 30; i++) yield i;
    }
    const totals: Array<number | undefined> = [];
    await runPipeline(OFFLINE_CONFIG, items(), (c: number[]) => c, {
      ...quiet,
      checkpoint,
      total: 30,
      progressIntervalMs: 1,
      onProgress: (p) => totals.push(p.total),
    });
    expect(totals.every((t) => t === 30)).toBe(true);
    const manifest = JSON.parse(await readFile(join(checkpoint, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ total: 30, complete: true });
  });

  it('refuses a task that returns the wrong number of results, without retrying it', async () => {
    let calls = 0;
    const { stats } = await runPipeline(
      OFFLINE_CONFIG,
      [1, 2, 3],
      (chunk: number[]) => {
        calls += 1;
        return chunk.slice(1);
      },
      { ...quiet, chunkSize: 3 },
    );
    expect(calls).toBe(1);
    expect(stats.failures[0]?.error.message).toContain('returned 2 results for a chunk of 3 items');
  });

  it('rejects bad options naming the option and the value', async () => {
    await expect(runPipeline(OFFLINE_CONFIG, [1], (c) => c, { ...quiet, chunkSize: 0 })).rejects.toThrow(
      'Expected `chunkSize` to be a whole number >= 1, got `0` (number)',
    );
    await expect(runPipeline(OFFLINE_CONFIG, 42 as never, (c) => c, quiet)).rejects.toBeInstanceOf(
      InputError,
    );
  });
});

describe('runPipeline with a checkpoint', () => {
  it('runs a .jsonl file to an output file in order and resumes a failed run', async () => {
    const dir = await tempDir();
    const input = join(dir, 'in.jsonl');
    const output = join(dir, 'out.jsonl');
    await writeFile(input, Array.from({ length: 50 }, (_, i) => JSON.stringify({ n: i })).join('\n') + '\n');
    let broken = true;
    const fn = (chunk: { n: number }[]) => {
      if (broken && chunk.some((x) => x.n === 33)) throw new Error('transient');
      return chunk.map((x) => ({ sq: x.n * x.n }));
    };
    const first = await runPipeline(OFFLINE_CONFIG, input, fn, {
      ...quiet,
      output,
      chunkSize: 4,
      chunkRetries: 0,
    });
    expect(first.stats).toMatchObject({ done: 46, failed: 4, output, checkpoint: `${output}.keybatch` });
    const lines = await readLines(output);
    expect(lines).toHaveLength(50);
    expect(lines[33]).toMatchObject({ error: { message: 'transient' } });
    broken = false;
    const second = await runPipeline(OFFLINE_CONFIG, input, fn, {
      ...quiet,
      output,
      chunkSize: 4,
      workers: 2,
    });
    expect(second.stats).toMatchObject({ done: 4, skipped: 46, failed: 0 });
    expect(await readLines(output)).toEqual(Array.from({ length: 50 }, (_, i) => ({ sq: i * i })));
  });

  it('names the file and line of a malformed input line and runs nothing, leaving the output untouched', async () => {
    const dir = await tempDir();
    const input = join(dir, 'in.jsonl');
    const output = join(dir, 'out.jsonl');
    await writeFile(input, '{"a":1}\n\n{"a":2}\n{"a":\n{"a":4}\n');
    await writeFile(output, 'previous output\n');
    let calls = 0;
    await expect(
      runPipeline(
        OFFLINE_CONFIG,
        input,
        (c) => {
          calls += 1;
          return c;
        },
        { ...quiet, output },
      ),
    ).rejects.toThrow(`${input}:4: not valid JSON: {"a":`);
    expect(calls).toBe(0);
    expect(await readFile(output, 'utf8')).toBe('previous output\n');
  });

  it('ignores a truncated last line in a lane file and redoes that item', async () => {
    const dir = await tempDir();
    const checkpoint = join(dir, 'run');
    const data = Array.from({ length: 10 }, (_, i) => i);
    await runPipeline(OFFLINE_CONFIG, data, (c: number[]) => c.map((x) => x + 1), {
      ...quiet,
      checkpoint,
      workers: 1,
      chunkSize: 10,
    });
    const lane = join(checkpoint, 'worker-0.jsonl');
    const text = await readFile(lane, 'utf8');
    // Cut the last record in half, as a kill -9 mid-write would.
    await writeFile(lane, text.slice(0, text.length - 6));
    const redone: number[] = [];
    const { results, stats } = await runPipeline(
      OFFLINE_CONFIG,
      data,
      (c: number[]) => {
        redone.push(...c);
        return c.map((x) => x + 1);
      },
      { ...quiet, checkpoint, workers: 1 },
    );
    expect(redone).toEqual([9]);
    expect(stats).toMatchObject({ skipped: 9, done: 1 });
    expect(results).toEqual(data.map((x) => x + 1));
  });

  it('refuses a checkpoint made from other input, saying how to start fresh', async () => {
    const dir = await tempDir();
    const checkpoint = join(dir, 'run');
    await runPipeline(OFFLINE_CONFIG, [1, 2, 3], (c) => c, { ...quiet, checkpoint });
    const attempt = runPipeline(OFFLINE_CONFIG, [1, 2, 4], (c) => c, { ...quiet, checkpoint });
    await expect(attempt).rejects.toBeInstanceOf(CheckpointMismatchError);
    await expect(attempt).rejects.toThrow(/different input.*--fresh \/ resume: false/);
    const other = runPipeline(OFFLINE_CONFIG, [1, 2, 3], (c) => c, {
      ...quiet,
      checkpoint,
      args: { mode: 'b' },
    });
    await expect(other).rejects.toThrow(/different options/);
    const fresh = await runPipeline(OFFLINE_CONFIG, [1, 2, 4], (c) => c, {
      ...quiet,
      checkpoint,
      resume: false,
    });
    expect(fresh.results).toEqual([1, 2, 4]);
  });

  it('resumes with a different number of workers', async () => {
    const dir = await tempDir();
    const checkpoint = join(dir, 'run');
    const data = Array.from({ length: 60 }, (_, i) => i);
    const controller = new AbortController();
    let chunks = 0;
    await expect(
      runPipeline(
        OFFLINE_CONFIG,
        data,
        async (c: number[]) => {
          chunks += 1;
          if (chunks === 4) controller.abort();
          return c;
        },
        { ...quiet, checkpoint, workers: 5, chunkSize: 5, signal: controller.signal },
      ),
    ).rejects.toMatchObject({ code: 'ABORTED' });
    const lanes = (await readdir(checkpoint)).filter((f) => f.startsWith('worker-'));
    expect(lanes.length).toBeGreaterThanOrEqual(2);
    const { results, stats } = await runPipeline(OFFLINE_CONFIG, data, (c: number[]) => c, {
      ...quiet,
      checkpoint,
      workers: 2,
      chunkSize: 3,
    });
    expect(results).toEqual(data);
    expect(stats.skipped).toBeGreaterThanOrEqual(15);
    expect(stats.skipped + stats.done).toBe(60);
  });

  it('treats duplicate input items as separate items', async () => {
    const { results } = await runPipeline(
      OFFLINE_CONFIG,
      ['a', 'a', 'b', 'a'],
      (c: string[]) => c.map((s) => s.toUpperCase()),
      quiet,
    );
    expect(results).toEqual(['A', 'A', 'B', 'A']);
  });

  it('completes a 100k-item .jsonl file-to-file run with correct output', async () => {
    const dir = await tempDir();
    const input = join(dir, 'big.jsonl');
    const output = join(dir, 'big-out.jsonl');
    const n = 100_000;
    const lines: string[] = [];
    for (let i = 0; i < n; i++) lines.push(`{"id":${i},"text":"item ${i}"}`);
    await writeFile(input, lines.join('\n') + '\n');
    const { stats } = await runPipeline(
      OFFLINE_CONFIG,
      input,
      (chunk: { id: number; text: string }[]) => chunk.map((x) => ({ id: x.id, len: x.text.length })),
      { ...quiet, output, chunkSize: 500 },
    );
    expect(stats).toMatchObject({ total: n, done: n, failed: 0 });
    const text = await readFile(output, 'utf8');
    const out = text.split('\n');
    expect(out).toHaveLength(n + 1);
    for (let i = 0; i < n; i += 997) expect(JSON.parse(out[i]!)).toEqual({ id: i, len: `item ${i}`.length });
    expect(JSON.parse(out[n - 1]!)).toEqual({ id: n - 1, len: `item ${n - 1}`.length });
  });
});
