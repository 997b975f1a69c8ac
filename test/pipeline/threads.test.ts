import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LAW } from '../../src/keys/domain/law.js';
import { KeyPool } from '../../src/keys/key-pool.js';
import { runPipeline } from '../../src/pipeline/pipeline.js';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import type { TaskFunction } from '../../src/workers/types.js';
import { collectingLogger, until, useCleanup, useTempDir } from '../helpers.js';

const tempDir = useTempDir();
const cleanup = useCleanup();

const sim = async (options: Parameters<typeof startSimulator>[0]): Promise<Simulator> =>
  cleanup(await startSimulator(options));

const base = { handleSignals: false, logger: collectingLogger() };
const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url);

describe('runPipeline on worker threads', () => {
  it.each(['echo-task.mjs', 'echo-task.ts'])(
    'runs a %s task module on at least two threads',
    async (name) => {
      const s = await sim({ keys: [{ key: 'sk-test-thread-0001' }], latencyMs: 5 });
      const pool = await KeyPool.open(
        { key_list: [{ api_key: 'sk-test-thread-0001', base_url: s.url }] },
        { notify: false },
      );
      cleanup(pool);
      const data = Array.from({ length: 40 }, (_, i) => `item ${i}`);
      const { results } = await runPipeline<string, { item: string; text: string; threadId: number }>(
        pool,
        data,
        fixture(name),
        { ...base, workers: 2, chunkSize: 4, concurrency: 2, args: { tag: 'x' } },
      );
      expect(results.map((r) => r.item)).toEqual(data);
      expect(results.map((r) => r.text)).toEqual(data.map((d) => `echo: ${d}`));
      const threads = new Set(results.map((r) => r.threadId));
      expect(threads.has(0)).toBe(false);
      expect(threads.size).toBeGreaterThanOrEqual(2);
      expect(s.stats().successes).toBe(40);
    },
  );

  it('passes args and the lane id into worker threads', async () => {
    const s = await sim({ keys: [{ key: 'sk-test-thread-0002' }] });
    const { results } = await runPipeline<number, { workerId: number; args: unknown }>(
      { key_list: [{ api_key: 'sk-test-thread-0002', base_url: s.url }] },
      [1, 2, 3, 4, 5, 6],
      fixture('echo-task.mjs'),
      { ...base, workers: 3, chunkSize: 1, args: { mode: 'fast' }, pool: { notify: false } },
    );
    expect(results.every((r) => (r.args as { mode: string }).mode === 'fast')).toBe(true);
    expect(new Set(results.map((r) => r.workerId)).size).toBeGreaterThan(1);
  });

  it('keeps code and status of errors thrown in a worker thread', async () => {
    const { stats } = await runPipeline(
      { key_list: [{ api_key: 'sk-test-thread-0003' }] },
      [1, 2, 3],
      fixture('failing-task.mjs'),
      { ...base, workers: 1, chunkSize: 3, chunkRetries: 0, pool: { notify: false } },
    );
    expect(stats.failures[0]?.error).toMatchObject({
      code: 'E_CUSTOM',
      status: 418,
      message: 'cannot handle 3 items',
    });
  });

  it('rotates keys from inside worker threads: a spent key is known to every lane at once', async () => {
    const s = await sim({ keys: [{ key: 'sk-test-spent-0004', quota: 0 }, { key: 'sk-test-good-0005' }] });
    const pool = await KeyPool.open(
      {
        key_list: [
          { api_key: 'sk-test-spent-0004', base_url: s.url },
          { api_key: 'sk-test-good-0005', base_url: s.url },
        ],
      },
      { notify: false, logger: collectingLogger() },
    );
    cleanup(pool);
    const data = Array.from({ length: 30 }, (_, i) => `r${i}`);
    const { results } = await runPipeline<string, { text: string }>(pool, data, fixture('echo-task.mjs'), {
      ...base,
      workers: 3,
      chunkSize: 2,
    });
    expect(results.map((r) => r.text)).toEqual(data.map((d) => `echo: ${d}`));
    // Lanes that asked before the first answer may each have tried it (at most the law's first in-flight bound);
    // once its 429 is known, no lane uses it again.
    expect(s.stats().byKey['sk-…0004']?.requests).toBeLessThanOrEqual(LAW.initialCap);
    expect(pool.status().keys[0]?.state).toBe('exhausted');
  });

  it('blocks until a config edit adds a key, from inside worker threads', async () => {
    const dir = await tempDir();
    const s = await sim({ keys: [{ key: 'sk-test-spent-0006', quota: 0 }, { key: 'sk-test-added-0007' }] });
    const config = join(dir, 'config.json');
    await writeFile(
      config,
      JSON.stringify({ key_list: [{ api_key: 'sk-test-spent-0006', base_url: s.url }] }),
    );
    const pool = await KeyPool.open(config, { notify: false, logger: collectingLogger() });
    cleanup(pool);
    const run = runPipeline<string, { text: string }>(pool, ['a', 'b', 'c', 'd'], fixture('echo-task.mjs'), {
      ...base,
      workers: 2,
      chunkSize: 1,
    });
    // Both lanes may have been granted the spent key before its first 429 was known: wait for those answers too.
    const settled = () => pool.blocked && pool.status().keys.every((k) => k.inFlight === 0);
    await until(settled, 10_000, 'the pool to block with nothing in flight');
    const before = s.stats().requests;
    const temp = `${config}.tmp`;
    await writeFile(temp, JSON.stringify({ key_list: [{ api_key: 'sk-test-added-0007', base_url: s.url }] }));
    expect(s.stats().requests).toBe(before);
    await rename(temp, config);
    const { results } = await run;
    expect(results.map((r) => r.text)).toEqual(['echo: a', 'echo: b', 'echo: c', 'echo: d']);
  });
});

describe('runPipeline on worker threads, .jsonl file to file', () => {
  const OFFLINE = { key_list: [{ api_key: 'sk-test-offline-0008' }] };
  const fileBase = { ...base, pool: { notify: false }, workers: 2, chunkSize: 100, resume: true };

  /** 15,000 lines over 1 MiB (so lines cross the reader's blocks): multi-byte text, blank and CRLF lines. */
  async function input(dir: string): Promise<{ path: string; refused: number }> {
    const words = ['alpha', 'résumé', '数据', 'naïve', '🙂', 'key', 'pool'];
    let body = '';
    let refused = 0;
    for (let id = 0; id < 15_000; id++) {
      const text = Array.from({ length: 8 + (id % 9) }, (_, w) => words[(id + w) % words.length]).join(' ');
      const refuse = id % 997 === 5;
      if (refuse) refused += 1;
      body += `${JSON.stringify(refuse ? { id, text, refuse } : { id, text })}${id % 11 === 0 ? '\r\n' : '\n'}`;
      if (id % 1000 === 0) body += id % 2000 === 0 ? '\n' : '   \n';
    }
    const path = join(dir, 'input.jsonl');
    await writeFile(path, body);
    return { path, refused };
  }

  async function inProcessOutput(dir: string, path: string): Promise<string> {
    const { default: shape } = (await import(fixture('shape-task.mjs').href)) as { default: TaskFunction };
    const output = join(dir, 'lanes.jsonl');
    await runPipeline(OFFLINE, path, shape, { ...fileBase, output });
    return readFile(output, 'utf8');
  }

  it('parses the lines in the threads and writes what they encode: the same output as in-process lanes', async () => {
    const dir = await tempDir();
    const { path, refused } = await input(dir);
    expect((await stat(path)).size).toBeGreaterThan(1 << 20);
    const output = join(dir, 'threads.jsonl');
    const { stats } = await runPipeline(OFFLINE, path, fixture('shape-task.mjs'), { ...fileBase, output });
    const text = await readFile(output, 'utf8');
    expect(text).toBe(await inProcessOutput(dir, path));
    const rows = text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(rows).toHaveLength(15_000);
    expect(rows.map((row) => row.id)).toEqual(Array.from({ length: 15_000 }, (_, i) => i));
    expect(rows[2]).toEqual({ id: 2, text: expect.stringContaining('数据'), length: expect.any(Number) });
    expect(stats).toMatchObject({ total: 15_000, done: 15_000 - refused, failed: refused });
    expect(stats.errors).toEqual({ E_REFUSED: refused });
  });

  it('resumes on threads: only the items that failed are run again, and the output is whole', async () => {
    const dir = await tempDir();
    const { path } = await input(dir);
    const output = join(dir, 'threads.jsonl');
    process.env['KEYBATCH_TEST_FAIL_EVERY'] = '13';
    let first: Awaited<ReturnType<typeof runPipeline>>['stats'];
    try {
      ({ stats: first } = await runPipeline(OFFLINE, path, fixture('shape-task.mjs'), {
        ...fileBase,
        output,
        chunkRetries: 0,
        chunkSize: 10,
      }));
    } finally {
      delete process.env['KEYBATCH_TEST_FAIL_EVERY'];
    }
    expect(first.errors['Error']).toBeGreaterThan(1000);
    const { stats } = await runPipeline(OFFLINE, path, fixture('shape-task.mjs'), {
      ...fileBase,
      output,
      chunkSize: 7,
    });
    expect(stats.skipped).toBe(first.done + first.failed - (first.errors['Error'] ?? 0));
    expect(stats.done + stats.failed).toBe(first.errors['Error']);
    expect(await readFile(output, 'utf8')).toBe(await inProcessOutput(dir, path));
  });

  it('a result JSON cannot hold, or the wrong number of results, fails its chunk as TASK_INVALID', async () => {
    const dir = await tempDir();
    const path = join(dir, 'small.jsonl');
    await writeFile(
      path,
      `${Array.from({ length: 6 }, (_, id) => JSON.stringify({ id, text: `t${id}` })).join('\n')}\n`,
    );
    const big = await runPipeline(OFFLINE, path, fixture('shape-task.mjs'), {
      ...fileBase,
      output: join(dir, 'big.jsonl'),
      chunkSize: 3,
      args: { mode: 'bigint' },
    });
    expect(big.stats).toMatchObject({ done: 3, failed: 3, errors: { TASK_INVALID: 3 } });
    expect(big.stats.failures[0]?.error.message).toContain('The result for item 3 cannot be saved as JSON');
    const short = await runPipeline(OFFLINE, path, fixture('shape-task.mjs'), {
      ...fileBase,
      output: join(dir, 'short.jsonl'),
      chunkSize: 3,
      args: { mode: 'short' },
    });
    expect(short.stats).toMatchObject({ done: 0, failed: 6, errors: { TASK_INVALID: 6 } });
    expect(short.stats.failures[0]?.error.message).toContain('fn returned 2 results for a chunk of 3 items');
  });
});
