import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROBE_IN_FLIGHT } from '../../src/keys/budget.js';
import { KeyPool } from '../../src/keys/key-pool.js';
import { runPipeline } from '../../src/pool/pipeline.js';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
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
    // Lanes that asked before the first answer may each have tried it (at most the probe count);
    // once its 429 is known, no lane uses it again.
    expect(s.stats().byKey['sk-…0004']?.requests).toBeLessThanOrEqual(PROBE_IN_FLIGHT);
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
    await until(() => pool.blocked, 10_000, 'the pool to block');
    const before = s.stats().requests;
    const temp = `${config}.tmp`;
    await writeFile(temp, JSON.stringify({ key_list: [{ api_key: 'sk-test-added-0007', base_url: s.url }] }));
    expect(s.stats().requests).toBe(before);
    await rename(temp, config);
    const { results } = await run;
    expect(results.map((r) => r.text)).toEqual(['echo: a', 'echo: b', 'echo: c', 'echo: d']);
  });
});
