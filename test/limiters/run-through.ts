/**
 * One real keybatch run (`runPrompts`) through a real limiter process in front of the simulator:
 * the rows it wrote, what the limiter's own log counted, what the simulator served, and how long
 * it took. The tests of each limiter assert on this.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { expect } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { type RunSummary, runPrompts } from '../../src/prompts/index.js';
import { type SimStats, startSimulator } from '../../src/sim/index.js';
import type { LimiterProcess } from './nginx.js';

export const MODEL = 'gpt-4o-mini';
/** Two keys, so the limiter's per-key buckets are exercised side by side. */
export const KEYS = ['sk-test-limiters-alpha-0001', 'sk-test-limiters-bravo-0002'] as const;
/** The per-key rate the runs used. */
export const RATE = 20;

export interface Through {
  /** The output rows; empty when the run stopped (its rows are in the checkpoint). */
  rows: Array<Record<string, unknown>>;
  summary: RunSummary;
  /** The run stopped before the end (no usable key within `waitTimeoutMs`): resumable. */
  stopped: boolean;
  /** The limiter's own count of its answers by status. */
  statuses: Record<string, number>;
  sim: SimStats;
  elapsedMs: number;
  /** Answers per second ÷ the keys' true limit, over the whole run. */
  utilisation: number;
  /** Refusals (the limiter's 429s) ÷ requests it received. */
  refused: number;
}

export interface ThroughOptions {
  rows: number;
  /** Starts the limiter in front of `upstream` (the simulator's origin). */
  limiter(upstream: string): Promise<LimiterProcess>;
  /** Simulator latency, ms. @default 40 (the runs) */
  latencyMs?: number;
  /** The pool's `waitTimeoutMs`: stop (resumable) when no key is usable for this long. @default none */
  waitTimeoutMs?: number;
}

async function readRows(path: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

export async function runThrough(options: ThroughOptions): Promise<Through> {
  const sim = await startSimulator({
    keys: KEYS.map((key) => ({ key })),
    latencyMs: options.latencyMs ?? 40,
  });
  const dir = await mkdtemp(join(tmpdir(), 'keybatch-limiters-'));
  let limiter: LimiterProcess | undefined;
  try {
    limiter = await options.limiter(new URL(sim.url).origin);
    const output = join(dir, 'out.jsonl');
    const prompts = Array.from({ length: options.rows }, (_, i) => ({ id: i, prompt: `row ${i}` }));
    const started = Date.now();
    const wait = options.waitTimeoutMs === undefined ? {} : { waitTimeoutMs: options.waitTimeoutMs };
    const { summary, stopped } = await runPrompts(
      { key_list: KEYS.map((api_key) => ({ api_key, base_url: `${limiter?.origin}/v1` })) },
      prompts,
      {
        output,
        model: MODEL,
        handleSignals: false,
        logger: silentLogger,
        pool: { watch: false, notify: false, ...wait },
        workers: 2,
        concurrency: 32,
      },
    ).then(
      (done) => ({ summary: done, stopped: false }),
      (error: Error & { summary?: RunSummary }) => {
        if (!error.summary) throw error;
        return { summary: error.summary, stopped: true };
      },
    );
    const elapsedMs = Date.now() - started;
    const statuses = await loggedStatuses(limiter, sim.stats().requests);
    const received = Object.values(statuses).reduce((sum, n) => sum + n, 0);
    return {
      rows: await readRows(output),
      summary,
      stopped,
      statuses,
      sim: sim.stats(),
      elapsedMs,
      utilisation: options.rows / (elapsedMs / 1000) / (KEYS.length * RATE),
      refused: (statuses['429'] ?? 0) / Math.max(1, received),
    };
  } finally {
    await limiter?.stop();
    await sim.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Nothing lost, nothing paid twice, every refusal the limiter's 429: the simulator answered each
 * prompt at most once and exactly as often as the limiter passed a 200; every other answer of the
 * limiter was a 429, and keybatch counted each as a rate limit. A run that finished has every row
 * exactly once, in order, without error; a run that stopped (resumable) recorded every answer.
 */
export function expectExactlyOnce(t: Through, rows: number): void {
  expect(Object.keys(t.statuses).sort()).toEqual(expect.arrayContaining(['200']));
  for (const status of Object.keys(t.statuses)) expect(['200', '429']).toContain(status);
  const passed = t.statuses['200'] ?? 0;
  expect(t.sim.requests).toBe(passed);
  expect(t.sim.successes).toBe(passed);
  expect(Object.values(t.sim.answered).every((n) => n === 1)).toBe(true);
  expect(Object.keys(t.sim.answered)).toHaveLength(passed);
  const rateLimited = t.summary.keys.reduce((sum, key) => sum + (key.errors.rate_limit ?? 0), 0);
  expect(rateLimited).toBe(t.statuses['429'] ?? 0);
  expect(t.summary.failed).toBe(0);
  expect(t.summary.done).toBe(passed);
  // Only refusals stop a run for want of a key.
  if (t.stopped) expect(t.statuses['429']).toBeGreaterThan(0);
  if (t.stopped) return;
  expect(passed).toBe(rows);
  expect(t.rows.map((row) => row['id'])).toEqual(Array.from({ length: rows }, (_, i) => i));
  expect(t.rows.every((row, i) => row['response'] === `echo: row ${i}` && !('error' in row))).toBe(true);
}

/**
 * The limiter's own log of statuses, once it has logged every request the simulator served (each
 * passed the limiter with a 200): nginx and HAProxy write a request's log line after its answer went,
 * so a read just after the run may miss the last ones. Read again until then, for at most 10 s.
 */
async function loggedStatuses(limiter: LimiterProcess, served: number): Promise<Record<string, number>> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const statuses = await limiter.statuses();
    if ((statuses['200'] ?? 0) >= served || Date.now() > deadline) return statuses;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Sends `count` chat requests at once straight through the limiter; the statuses it answered, and each 429's header names. */
export async function burstThrough(
  limiter: LimiterProcess,
  count: number,
): Promise<{ statuses: number[]; refusalHeaders: string[][] }> {
  const client = new OpenAI({ apiKey: KEYS[0], baseURL: `${limiter.origin}/v1`, maxRetries: 0 });
  const refusalHeaders: string[][] = [];
  const statuses = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      client.chat.completions
        .create({ model: MODEL, messages: [{ role: 'user', content: `burst ${i}` }] })
        .then(
          () => 200,
          (error: Error & { status?: number; headers?: Headers }) => {
            if (error.status === 429) refusalHeaders.push([...(error.headers?.keys() ?? [])]);
            return error.status ?? 0;
          },
        ),
    ),
  );
  return { statuses, refusalHeaders };
}

/** Header names that would tell a client about a rate limit. */
export const limitHeaders = (names: string[]) => names.filter((name) => /ratelimit|retry-after/i.test(name));

/** Runs `fn` with the limiter in front of a fresh simulator over the test keys; stops both after. */
export async function withLimiter<T>(
  start: (upstream: string) => Promise<LimiterProcess>,
  fn: (limiter: LimiterProcess) => Promise<T>,
): Promise<T> {
  const sim = await startSimulator({ keys: KEYS.map((key) => ({ key })), latencyMs: 0 });
  try {
    const limiter = await start(new URL(sim.url).origin);
    try {
      return await fn(limiter);
    } finally {
      await limiter.stop();
    }
  } finally {
    await sim.close();
  }
}
