/**
 * Runs one row of the rate-limit benchmark with 1 or 4 processes per side: a simulator (child
 * process) with each side's own keys, a real limiter process per side when the row has one (so
 * its log counts that side's refusals), the sides' processes (children/ratelimit-side.mjs), and
 * the simulator's counters sampled every half second for the steady-state rate.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { SimKeySpec, SimStats } from '../../src/index.js';
import { startHaproxy } from '../../test/limiters/haproxy.js';
import { type LimiterProcess, startNginx } from '../../test/limiters/nginx.js';
import { distIndex } from './keybatch.js';
import { PER_KEY_PER_SECOND, type RateRow } from './ratelimit-rows.js';
import { spawnSimulator } from './sim-process.js';

export type SideName = 'keybatch' | 'bare' | 'bottleneck';

export interface SideResult {
  side: SideName;
  /** Answers per second (steady state for duration rows; count ÷ time for count rows). */
  rate: number;
  /** Requests received (simulator + limiter refusals). */
  received: number;
  /** 429s and 503s (the simulator's and the limiter's) ÷ received. */
  refused: number;
  /** Requests the side gave up on (its client's final failure) ÷ requests it took. */
  lost: number;
}

const SIDE_SCRIPT = fileURLToPath(new URL('../children/ratelimit-side.mjs', import.meta.url));
/** How often the simulator's counters are read. */
const SAMPLE_MS = 500;
/** A side process that does not answer within this long after its deadline is killed. */
const GRACE_MS = 60_000;

interface Counts {
  at: number;
  ok: number;
  requests: number;
  refused: number;
}

const keyName = (row: number, side: number, k: number) =>
  `sk-bench-ratelimit-r${row}-${side}${k}${String(row).padStart(2, '0')}`;

function countsOf(stats: SimStats, keys: readonly string[], at: number): Counts {
  const c: Counts = { at, ok: 0, requests: 0, refused: 0 };
  for (const key of keys) {
    const k = stats.byKey[`sk-…${key.slice(-4)}`];
    if (!k) continue;
    c.ok += k.successes;
    c.requests += k.requests;
    c.refused += (k.byStatus['429'] ?? 0) + (k.byStatus['503'] ?? 0);
  }
  return c;
}

function startLimiter(row: RateRow, upstream: string): Promise<LimiterProcess> | undefined {
  if (row.proxy === 'nginx') return startNginx({ upstream, rate: PER_KEY_PER_SECOND });
  if (row.proxy === 'nginx-burst') return startNginx({ upstream, rate: PER_KEY_PER_SECOND, burst: 10 });
  if (row.proxy === 'haproxy') return startHaproxy({ upstream, rate: PER_KEY_PER_SECOND });
  return undefined;
}

interface SideProcess {
  ready: Promise<void>;
  result: Promise<{ ok: number; failed: number; finishedAt: number }>;
  go(deadline: number): void;
  kill(): void;
}

function startSide(args: Record<string, unknown>): SideProcess {
  const proc: ChildProcess = fork(SIDE_SCRIPT, [JSON.stringify(args)], {
    execArgv: [],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const exited = new Promise<never>((_, reject) =>
    proc.once('exit', (code) => reject(new Error(`a ${String(args['side'])} process exited (${code})`))),
  );
  exited.catch(() => {});
  const message = <T>(test: (m: unknown) => boolean) =>
    Promise.race([
      new Promise<T>((resolve) => proc.on('message', (m) => test(m) && resolve(m as T))),
      exited,
    ]);
  return {
    ready: message<void>((m) => m === 'ready'),
    result: message((m) => typeof m === 'object' && m !== null && 'ok' in m),
    go: (deadline) => proc.send({ deadline }),
    kill: () => proc.exitCode === null && proc.kill('SIGKILL'),
  };
}

export interface RowRun {
  row: RateRow;
  index: number;
  processes: number;
  sides: readonly SideName[];
  redis: string | undefined;
}

interface Prepared {
  name: SideName;
  keys: string[];
  baseURL: string;
  limiter: LimiterProcess | undefined;
  procs: SideProcess[];
}

/** The arguments of one side's processes: its share of lanes and requests, Bottleneck's settings. */
function sideArgs(run: RowRun, side: SideName, keys: string[], baseURL: string) {
  const { row, processes } = run;
  const lanes = Math.max(
    1,
    Math.round((side === 'bare' ? (row.bareLanes ?? row.lanes) : row.lanes) / processes),
  );
  const count = row.count === undefined ? undefined : Math.ceil(row.count / processes);
  const bottleneck =
    side !== 'bottleneck' || row.bottleneck === 'none'
      ? {}
      : row.bottleneck === 'minTime'
        ? // Told the true limit, split evenly over the processes.
          { minTimeMs: (1000 * processes) / PER_KEY_PER_SECOND }
        : { maxConcurrent: Math.max(1, Math.round(row.bottleneck.maxConcurrent / processes)) };
  return {
    side,
    dist: distIndex().href,
    baseURL,
    keys,
    lanes,
    ...(count === undefined ? {} : { count }),
    ...(side === 'keybatch' && run.redis ? { redis: run.redis } : {}),
    // One namespace for all processes of a side: they share the pool.
    namespace: `bench-rl-${run.index}-${processes}`,
    ...bottleneck,
  };
}

/**
 * The steady rate of a side: answers between the warm-up's end and the deadline (the requests
 * still in flight after it, and a client's retries draining, are not the row's rate).
 */
function steadyRate(samples: Counts[], from: number, to: number): number {
  const warm = samples.find((c) => c.at >= from) ?? (samples[0] as Counts);
  const last = samples.findLast((c) => c.at <= to) ?? (samples[samples.length - 1] as Counts);
  return ((last.ok - warm.ok) * 1000) / Math.max(1, last.at - warm.at);
}

async function runSides(run: RowRun, sim: Awaited<ReturnType<typeof spawnSimulator>>, sides: Prepared[]) {
  const { row } = run;
  for (const side of sides) {
    side.procs = Array.from({ length: run.processes }, () =>
      startSide(sideArgs(run, side.name, side.keys, side.baseURL)),
    );
  }
  await Promise.all(sides.flatMap((s) => s.procs.map((p) => p.ready)));
  await sim.resetStats();
  const samples: Counts[][] = sides.map(() => []);
  const sample = async () => {
    const stats = await sim.stats();
    const at = Date.now();
    for (const [i, side] of sides.entries()) samples[i]?.push(countsOf(stats, side.keys, at));
  };
  await sample();
  const started = Date.now();
  const seconds = row.count === undefined ? (row.warmupS ?? 0) + (row.measuredS ?? 0) : 24 * 3600;
  const deadline = started + seconds * 1000;
  for (const side of sides) for (const p of side.procs) p.go(deadline);
  // A process killed after the grace period still leaves the row its simulator counts.
  const cut = (side: SideName) => (error: Error) => {
    process.stderr.write(
      `bench: ratelimit: ${side}: ${error.message}; its rate is read from the simulator\n`,
    );
    return { ok: 0, failed: 0, finishedAt: deadline };
  };
  const results = Promise.all(sides.map((s) => Promise.all(s.procs.map((p) => p.result.catch(cut(s.name))))));
  let done = false;
  const finished = () => {
    done = true;
  };
  // Handled here and awaited below: a killed process rejects `results` without an unhandled rejection.
  results.then(finished, finished);
  // Sampled right at the deadline too, so the measured span ends there.
  while (!done && Date.now() < deadline + GRACE_MS) {
    const left = deadline - Date.now();
    await Promise.race([delay(left > 0 ? Math.min(SAMPLE_MS, left) : SAMPLE_MS), results.catch(() => {})]);
    await sample();
  }
  if (!done) for (const side of sides) for (const p of side.procs) p.kill();
  return { started, deadline, samples, results: await results };
}

/** Runs the row's sides at the same time (count rows: one side at a time, they would share the CPU). */
export async function runRow(run: RowRun): Promise<SideResult[]> {
  const { row, index } = run;
  const keysOf = run.sides.map((_, s) => Array.from({ length: row.keys }, (_, k) => keyName(index, s, k)));
  const keys: SimKeySpec[] = keysOf.flat().map((key) => ({ key, ...row.spec }));
  const sim = await spawnSimulator({ keys, latencyMs: row.latencyMs });
  const prepared: Prepared[] = [];
  try {
    for (const [s, name] of run.sides.entries()) {
      const limiter = await startLimiter(row, new URL(sim.url).origin);
      prepared.push({
        name,
        keys: keysOf[s] as string[],
        baseURL: limiter ? `${limiter.origin}/v1` : sim.url,
        limiter,
        procs: [],
      });
    }
    const groups = row.count === undefined ? [prepared] : prepared.map((side) => [side]);
    const out: SideResult[] = [];
    for (const group of groups) out.push(...(await measure(run, sim, group)));
    return out;
  } finally {
    for (const side of prepared) for (const p of side.procs) p.kill();
    for (const side of prepared) await side.limiter?.stop();
    await sim.close();
  }
}

async function measure(
  run: RowRun,
  sim: Awaited<ReturnType<typeof spawnSimulator>>,
  sides: Prepared[],
): Promise<SideResult[]> {
  const { row } = run;
  const { started, deadline, samples, results } = await runSides(run, sim, sides);
  const out: SideResult[] = [];
  for (const [i, side] of sides.entries()) {
    const all = samples[i] as Counts[];
    const last = all[all.length - 1] as Counts;
    const outcome = results[i] ?? [];
    const ok = outcome.reduce((sum, r) => sum + r.ok, 0);
    const failed = outcome.reduce((sum, r) => sum + r.failed, 0);
    const finished = Math.max(...outcome.map((r) => r.finishedAt));
    const limiterRefused = (await side.limiter?.statuses())?.['429'] ?? 0;
    const received = last.requests + limiterRefused;
    out.push({
      side: side.name,
      rate:
        row.count === undefined
          ? steadyRate(all, started + (row.warmupS ?? 0) * 1000, deadline)
          : (ok * 1000) / Math.max(1, finished - started),
      received,
      refused: (last.refused + limiterRefused) / Math.max(1, received),
      lost: failed / Math.max(1, ok + failed),
    });
  }
  return out;
}
