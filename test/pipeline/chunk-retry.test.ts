import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { APIError, BadRequestError, NotFoundError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFailures } from '../../src/cli/failures.js';
import { statusExitCode, statusReport } from '../../src/cli/status.js';
import { AbortError, KeybatchError, NoUsableKeyError } from '../../src/errors.js';
import { readRunStatus } from '../../src/index.js';
import { isFinalRequestError } from '../../src/keys/final-request.js';
import { KeyPool } from '../../src/keys/key-pool.js';
import { afterFailedAttempt } from '../../src/pipeline/chunk-retry.js';
import { runPipeline } from '../../src/pipeline/pipeline.js';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import type { TaskContext } from '../../src/workers/types.js';
import { collectingLogger, useCleanup } from '../helpers.js';
import { mountTmpfs } from '../tmpfs.js';

const cleanup = useCleanup();
const headers = new Headers();
const apiError = (status: number, code?: string) =>
  APIError.generate(status, { error: { message: `status ${status}`, code } }, `status ${status}`, headers);

describe('what a failed chunk attempt leads to (pure)', () => {
  it('a request that can never succeed fails its chunk at once; anything that may change is retried', () => {
    for (const status of [400, 404, 413, 422]) {
      expect(afterFailedAttempt(apiError(status), 0, 2), String(status)).toBe('fail');
    }
    for (const status of [401, 403, 408, 409, 429, 500, 503]) {
      expect(afterFailedAttempt(apiError(status), 0, 2), String(status)).toBe('retry');
    }
    // A 404 about model access is the pool's business (the key is denied for the model), not final.
    expect(afterFailedAttempt(apiError(404, 'model_not_found'), 0, 2)).toBe('retry');
    // Found through `cause` chains, as a task or runPrompts wraps the SDK's error.
    const wrapped = new Error('step 2 failed', { cause: new Error('inner', { cause: apiError(400) }) });
    expect(isFinalRequestError(wrapped)).toBe(true);
    expect(afterFailedAttempt(wrapped, 0, 2)).toBe('fail');
    // A plain error with a `status` is not an API answer: retried as before.
    expect(afterFailedAttempt(Object.assign(new Error('x'), { status: 400 }), 0, 2)).toBe('retry');
    expect(afterFailedAttempt(new Error('flaky'), 2, 2)).toBe('fail');
    expect(afterFailedAttempt(new KeybatchError('TASK_INVALID', 'x'), 0, 2)).toBe('fail');
    expect(afterFailedAttempt(new KeybatchError('CHECKPOINT_WRITE', 'x'), 0, 2)).toBe('fatal');
    expect(afterFailedAttempt(new NoUsableKeyError('x'), 0, 2)).toBe('stop');
    expect(afterFailedAttempt(new AbortError(), 0, 2)).toBe('stop');
    expect(apiError(400)).toBeInstanceOf(BadRequestError);
    expect(apiError(404)).toBeInstanceOf(NotFoundError);
  });
});

type Item = { id?: string; text: string; trigger?: string };

/** Step 1 for every item of the chunk, then step 2 for every item (a multi-step task). */
async function twoSteps(chunk: Item[], ctx: TaskContext) {
  const ask = (content: string) =>
    ctx.client.chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content }] },
      { signal: ctx.signal },
    );
  const first = await Promise.all(chunk.map((item) => ask(`step 1: ${item.text}`)));
  return Promise.all(
    chunk.map(async (item, k) => {
      const second = await ask(`step 2: ${item.text}${item.trigger ?? ''}`);
      return { first: first[k]?.choices[0]?.message.content, second: second.choices[0]?.message.content };
    }),
  );
}

describe('one item whose request can never succeed fails alone; its neighbours are kept, paid once', () => {
  let sim: Simulator;
  let dir = '';
  beforeAll(async () => {
    sim = await startSimulator({ keys: [{ key: 'sk-test-chunk-retry-0001' }] });
    dir = await mkdtemp(join(tmpdir(), 'keybatch-chunk-split-'));
  });
  afterAll(async () => {
    await sim.close();
    await rm(dir, { recursive: true, force: true });
  });

  const items = (tag: string): Item[] =>
    Array.from({ length: 5 }, (_, i) => ({
      id: `${tag}-${i}`,
      text: `${tag} item ${i}`,
      ...(i === 3 ? { trigger: ' [[sim:400]]' } : {}),
    }));

  it.each([
    ['in-process', twoSteps as unknown as URL],
    ['worker threads', new URL('./fixtures/two-step-task.mjs', import.meta.url)],
  ])(
    '%s: a 400 on step 2 of one item of a 5-item chunk fails that item alone, with its id; every other answer is paid once; status agrees; a rerun sends nothing',
    async (tag, fn) => {
      const pool = cleanup(
        await KeyPool.open(
          { key_list: [{ api_key: 'sk-test-chunk-retry-0001', base_url: sim.url }] },
          { notify: false, watch: false },
        ),
      );
      const output = join(dir, `${tag.replace(' ', '-')}.jsonl`);
      const data = items(tag);
      const run = () =>
        runPipeline(pool, data, fn, {
          workers: 1,
          chunkSize: 5,
          chunkRetries: 2,
          chunkRetryDelayMs: 1,
          handleSignals: false,
          logger: collectingLogger(),
          output,
        });
      const { stats } = await run();
      const answered = sim.stats().answered;
      for (const item of data) {
        expect(answered[`step 1: ${item.text}`], item.text).toBe(1);
        if (!item.trigger) expect(answered[`step 2: ${item.text}`], item.text).toBe(1);
      }
      expect(stats).toMatchObject({ done: 4, failed: 1 });
      expect(stats.failures.map((f) => [f.index, f.error.status])).toEqual([[3, 400]]);
      const rows = (await readFile(output, 'utf8'))
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(rows.map((row) => row.id ?? null)).toEqual([null, null, null, `${tag}-3`, null]);
      expect(rows[3].error).toMatchObject({ status: 400 });
      expect(rows[0].second).toEqual(expect.any(String));
      const status = statusReport(await readRunStatus(output), await readFailures(output));
      expect(status).toMatchObject({ complete: true, done: 4, failed: 1, final: 1, retryable: 0 });
      expect(statusExitCode(status)).toBe(1);
      const requests = sim.stats().requests;
      const again = await run();
      expect(again.stats).toMatchObject({ done: 0, skipped: 5 });
      expect(sim.stats().requests).toBe(requests);
    },
  );
});

describe('a checkpoint that cannot be written', () => {
  let dir = '';
  let unmount: (() => void) | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keybatch-full-'));
    await mkdir(dir, { recursive: true });
    unmount = mountTmpfs(dir, 'size=96k');
  });
  afterAll(async () => {
    unmount?.();
    await rm(dir, { recursive: true, force: true });
  });

  it('(a full tmpfs) stops the run with CHECKPOINT_WRITE at once: the chunk is not retried and no new chunk starts', async () => {
    const calls = new Map<number, number>();
    const error = (await runPipeline(
      { key_list: [{ api_key: 'sk-test-full-disk-0001' }] },
      Array.from({ length: 200 }, (_, i) => i),
      (chunk: number[]) => {
        calls.set(chunk[0]!, (calls.get(chunk[0]!) ?? 0) + 1);
        return chunk.map((i) => ({ i, filler: 'x'.repeat(4000) }));
      },
      {
        output: join(dir, 'out.jsonl'),
        workers: 1,
        chunkSize: 1,
        chunkRetries: 2,
        chunkRetryDelayMs: 1,
        handleSignals: false,
        logger: collectingLogger(),
        pool: { notify: false, watch: false, env: {} },
      },
    ).catch((e: unknown) => e)) as KeybatchError;
    expect(error).toBeInstanceOf(KeybatchError);
    expect(error.code).toBe('CHECKPOINT_WRITE');
    expect(error.message).toContain('worker-0.jsonl');
    // Some chunks were written before the disk filled; none ran twice; the run stopped there.
    expect(calls.size).toBeGreaterThan(3);
    expect(calls.size).toBeLessThan(200);
    expect([...calls.values()].every((n) => n === 1)).toBe(true);
  });
});
