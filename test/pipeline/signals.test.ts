import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AbortError, InputError } from '../../src/errors.js';
import { runPipeline } from '../../src/pipeline/pipeline.js';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { collectingLogger, until, useTempDir } from '../helpers.js';
import { checkpointLines, startPipelineChild } from './pipeline-child.js';

const tempDir = useTempDir();
let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const start = startPipelineChild;

interface Stopped {
  stopped: string;
  message: string;
  stats: { done: number; skipped: number; failed: number; total: number };
}

/** A simulator with one key, a config.json for it, and `texts` as the input, in a temp dir. */
async function setUp(key: string, texts: string[], latencyMs: number) {
  const simulator = await startSimulator({ keys: [{ key }], latencyMs });
  sim = simulator;
  const dir = await tempDir();
  const config = join(dir, 'config.json');
  const input = join(dir, 'in.jsonl');
  await writeFile(config, JSON.stringify({ key_list: [{ api_key: key, base_url: simulator.url }] }));
  await writeFile(input, texts.map((text) => JSON.stringify({ text })).join('\n') + '\n');
  return { simulator, config, input, output: join(dir, 'out.jsonl') };
}

describe('runPipeline stopped by a signal (a child process, real signals)', () => {
  it.each(['SIGINT', 'SIGTERM', 'SIGHUP'] as const)(
    'a first %s: the chunks in flight finish and are checkpointed, the caller gets AbortError with stats and its finally runs; a rerun answers each item exactly once',
    async (signal) => {
      const n = 120;
      const texts = Array.from({ length: n }, (_, i) => `item ${i}`);
      const { simulator, config, input, output } = await setUp(`sk-test-${signal}-0001`, texts, 40);

      const run = start([config, input, output]);
      await until(async () => (await checkpointLines(`${output}.keybatch`)) >= 20, 30_000, '20 records');
      run.proc.kill(signal);
      // The script's own exit code: the library did not end its process.
      expect(await run.exited).toEqual({ code: 3, signal: null });
      expect(run.err()).toContain('finally ran');
      expect(run.err()).toContain(`${signal}: finishing the chunks in flight`);
      const stopped = JSON.parse(run.out()) as Stopped;
      expect(stopped.stopped).toBe('ABORTED');
      expect(stopped.message).toContain(signal);
      // Every answer the simulator gave before the stop was checkpointed: nothing in flight was lost.
      const answered = simulator.stats().successes;
      expect(await checkpointLines(`${output}.keybatch`)).toBe(answered);
      expect(stopped.stats).toMatchObject({ done: answered, skipped: 0, failed: 0 });
      expect(answered).toBeLessThan(n);

      const rerun = start([config, input, output]);
      expect((await rerun.exited).code).toBe(0);
      expect(JSON.parse(rerun.out())).toEqual({ done: n - answered, skipped: answered });
      expect((await readFile(output, 'utf8')).trimEnd().split('\n')).toHaveLength(n);
      expect(simulator.stats().successes).toBe(n);
      expect(Object.values(simulator.stats().answered).every((count) => count === 1)).toBe(true);
    },
    60_000,
  );

  it('a second SIGINT aborts the requests in flight at once: AbortError with stats, and the caller’s finally runs', async () => {
    const texts = Array.from({ length: 12 }, (_, i) => `never answered ${i} [[sim:hang]]`);
    const { simulator, config, input, output } = await setUp('sk-test-sigint-twice-0001', texts, 0);

    const run = start([config, input, output]);
    // Requests the simulator holds open (how many the pool lets out at once is its business).
    await until(() => simulator.stats().requests >= 2, 30_000, 'requests in flight');
    run.proc.kill('SIGINT');
    await until(() => run.err().includes('SIGINT: finishing the chunks in flight'), 10_000, 'the first stop');
    run.proc.kill('SIGINT');
    expect(await run.exited).toEqual({ code: 3, signal: null });
    expect(run.err()).toContain('finally ran');
    const stopped = JSON.parse(run.out()) as Stopped;
    expect(stopped.stopped).toBe('ABORTED');
    expect(stopped.message).toMatch(/^aborted \(SIGINT, then a second SIGINT\)/);
    expect(stopped.stats).toMatchObject({ done: 0, failed: 0, total: 12 });
    expect(await checkpointLines(`${output}.keybatch`)).toBe(0);
  }, 60_000);
});

describe('runPipeline stopSignal and signal (in-process)', () => {
  it('stopSignal: no new chunks, the ones in flight finish and are kept, then AbortError with stats', async () => {
    const stop = new AbortController();
    const started: number[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const run = runPipeline(
      { key_list: [{ api_key: 'sk-test-stop-signal-0001' }] },
      Array.from({ length: 40 }, (_, i) => i),
      async (chunk: number[]) => {
        started.push(chunk[0]!);
        await gate;
        return chunk.map((i) => i * 2);
      },
      {
        workers: 2,
        chunkSize: 5,
        stopSignal: stop.signal,
        handleSignals: false,
        logger: collectingLogger(),
        pool: { watch: false, notify: false, env: {} },
      },
    );
    await until(() => started.length === 2, 10_000, 'two chunks in flight');
    stop.abort();
    release();
    const error = (await run.catch((e: unknown) => e)) as AbortError & {
      stats: { done: number; total: number };
    };
    expect(error).toBeInstanceOf(AbortError);
    expect(error.code).toBe('ABORTED');
    expect(error.message).toMatch(/^stopped \(stopSignal\): the chunks in flight finished/);
    // Both chunks in flight finished; no third one started.
    expect(started).toHaveLength(2);
    expect(error.stats).toMatchObject({ done: 10, total: 40 });
  });

  it('stopSignal while the last chunks are in flight: every item is done, so the run finishes and writes its output', async () => {
    const stop = new AbortController();
    const dir = await tempDir();
    const output = join(dir, 'out.jsonl');
    const result = await runPipeline(
      { key_list: [{ api_key: 'sk-test-stop-signal-0002' }] },
      Array.from({ length: 20 }, (_, i) => i),
      async (chunk: number[]) => {
        // The stop comes while the last chunk runs: it finishes, and nothing is left to do.
        if (chunk.includes(19)) stop.abort();
        return chunk.map((i) => i * 2);
      },
      {
        workers: 1,
        chunkSize: 5,
        output,
        stopSignal: stop.signal,
        handleSignals: false,
        logger: collectingLogger(),
        pool: { watch: false, notify: false, env: {} },
      },
    );
    expect(stop.signal.aborted).toBe(true);
    expect(result.stats).toMatchObject({ done: 20, total: 20, failed: 0 });
    const lines = (await readFile(output, 'utf8')).trim().split('\n').map(Number);
    expect(lines).toEqual(Array.from({ length: 20 }, (_, i) => i * 2));
  });

  it('signal: the requests in flight are aborted at once', async () => {
    const controller = new AbortController();
    let inFlight = 0;
    const run = runPipeline(
      { key_list: [{ api_key: 'sk-test-abort-signal-0001' }] },
      [1, 2, 3, 4],
      (chunk: number[], ctx) =>
        new Promise<number[]>((_, reject) => {
          inFlight += 1;
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
          void chunk;
        }),
      {
        workers: 2,
        chunkSize: 2,
        signal: controller.signal,
        handleSignals: false,
        logger: collectingLogger(),
        pool: { watch: false, notify: false, env: {} },
      },
    );
    await until(() => inFlight === 2, 10_000, 'two chunks in flight');
    controller.abort();
    const error = (await run.catch((e: unknown) => e)) as AbortError & { stats: { done: number } };
    expect(error).toBeInstanceOf(AbortError);
    expect(error.message).toMatch(/^aborted \(signal\)/);
    expect(error.stats.done).toBe(0);
  });

  it('refuses workers above 64 and concurrency above 1024, naming the option and the value', async () => {
    const fn = (chunk: number[]) => chunk;
    await expect(runPipeline(undefined, [1], fn, { workers: 65 })).rejects.toThrow(
      new InputError('Expected `workers` to be a whole number from 1 to 64, got `65` (number)'),
    );
    await expect(runPipeline(undefined, [1], fn, { concurrency: 100_000 })).rejects.toThrow(
      'Expected `concurrency` to be a whole number from 1 to 1024, got `100000` (number)',
    );
    await expect(runPipeline(undefined, [1], fn, { stopSignal: 'soon' as never })).rejects.toThrow(
      'Expected `stopSignal` to be an AbortSignal, got `soon` (string)',
    );
  });
});

describe('a limited run stopped for another reason', () => {
  it('with --limit reached by dispatch, a run whose keys are all refused stops for NO_USABLE_KEY, not "--limit reached"', async () => {
    const simulator = await startSimulator({ keys: [{ key: 'sk-test-limit-known-key-0001' }] });
    sim = simulator;
    const run = runPipeline(
      { key_list: [{ api_key: 'sk-test-limit-unknown-key-0002', base_url: simulator.url }] },
      Array.from({ length: 20 }, (_, i) => `item ${i}`),
      async (chunk: string[], ctx) => {
        const answers = await Promise.all(
          chunk.map((text) =>
            ctx.client.chat.completions.create({
              model: 'gpt-4o-mini',
              messages: [{ role: 'user', content: text }],
            }),
          ),
        );
        return answers.map((answer) => answer.choices[0]?.message.content);
      },
      {
        workers: 2,
        chunkSize: 5,
        limit: 5,
        handleSignals: false,
        logger: collectingLogger(),
        pool: { watch: false, notify: false, env: {}, waitTimeoutMs: 0 },
      },
    );
    const error = (await run.catch((e: unknown) => e)) as { code?: string; message?: string };
    expect(error.code).toBe('NO_USABLE_KEY');
    expect(error.message).not.toContain('--limit');
  });
});
