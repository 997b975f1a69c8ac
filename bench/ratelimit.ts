/**
 * 1. Rate-limit utilisation. Four keys, each limited by the simulator to L requests per second
 * (token buckets; only the `x-ratelimit-*` headers tell the client, config.json has no `rpm`),
 * 40 ms latency, the same number of requests in flight on both sides for the same time.
 *
 * - keybatch: one KeyPool, a pool-aware client per lane (`createClient(pool, { workerId })`, what
 *   runPipeline/runPrompts lanes use), requests in a loop.
 * - baseline: what earlier tools did, on the bare openai SDK (`maxRetries: 0`): each worker uses
 *   its `key_index` until it is answered 429, then the next key, sleeping base·2^n after the n-th
 *   429 of a request.
 *
 * Figures: successful requests/s ÷ 4·L (whole run, and steady state after the warm-up, since the
 * simulator's buckets start full), and the share of requests answered 429.
 */
import { setMaxListeners } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import OpenAI, { RateLimitError } from 'openai';
import type { SimStats } from '../src/index.js';
import type { BenchContext, Benchmark } from './lib/bench.js';
import { loadKeybatch } from './lib/keybatch.js';
import { type RemoteSimulator, spawnSimulator } from './lib/sim-process.js';
import { num, pct, table, verdict } from './lib/table.js';

const KEYS = 4;
const LANES = 4;
const MODEL = 'gpt-4o-mini';
const UTILISATION_TARGET = 0.97;
const RATE_LIMITED_TARGET = 0.01;

interface Settings {
  limit: number;
  seconds: number;
  warmup: number;
  perLane: number;
  latency: number;
  backoffMs: number;
}

interface Snapshot {
  at: number;
  stats: SimStats;
}

interface SideResult {
  name: string;
  start: Snapshot;
  warm: Snapshot;
  end: Snapshot;
}

const request = (n: number) => ({
  model: MODEL,
  messages: [{ role: 'user' as const, content: `rate-limit bench request ${n}` }],
  max_tokens: 16,
});

const keyName = (side: string, k: number) => `sk-bench-ratelimit-${side}-key-000${k}`;

async function snapshot(sim: RemoteSimulator): Promise<Snapshot> {
  return { at: Date.now(), stats: await sim.stats() };
}

/**
 * Runs `loops` request loops until `seconds` have passed, taking the simulator's counters at the
 * start, after the warm-up and at the end.
 */
async function timed(
  name: string,
  sim: RemoteSimulator,
  s: Settings,
  loop: (signal: AbortSignal, deadline: number) => Promise<void>,
  loops: number,
): Promise<SideResult> {
  await sim.resetStats();
  const start = await snapshot(sim);
  const deadline = start.at + s.seconds * 1000;
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  const running = Array.from({ length: loops }, () => loop(controller.signal, deadline));
  await delay(s.warmup * 1000);
  const warm = await snapshot(sim);
  await delay(Math.max(0, deadline - Date.now()));
  const end = await snapshot(sim);
  controller.abort();
  await Promise.allSettled(running);
  return { name, start, warm, end };
}

async function runKeybatch(sim: RemoteSimulator, s: Settings): Promise<SideResult> {
  const { KeyPool, createClient, silentLogger } = await loadKeybatch();
  const pool = await KeyPool.open(
    {
      key_list: Array.from({ length: KEYS }, (_, k) => ({
        api_key: keyName('keybatch', k),
        base_url: sim.url,
      })),
    },
    { notify: false, logger: silentLogger },
  );
  const clients = Array.from({ length: LANES }, (_, lane) => createClient(pool, { workerId: lane }));
  let n = 0;
  let next = 0;
  try {
    return await timed(
      'keybatch',
      sim,
      s,
      async (signal, deadline) => {
        const client = clients[next++ % LANES]!;
        while (Date.now() < deadline && !signal.aborted) {
          await client.chat.completions.create(request(n++), { signal }).catch(() => {});
        }
      },
      LANES * s.perLane,
    );
  } finally {
    await pool.close();
  }
}

async function runBaseline(sim: RemoteSimulator, s: Settings): Promise<SideResult> {
  const clients = Array.from(
    { length: KEYS },
    (_, k) => new OpenAI({ apiKey: keyName('baseline', k), baseURL: sim.url, maxRetries: 0 }),
  );
  // Worker i starts at key_index + i and keeps its key until a 429 moves it to the next one.
  const keyIndex = Array.from({ length: LANES }, (_, lane) => lane % KEYS);
  let n = 0;
  let next = 0;
  return timed(
    'baseline (fill-first + backoff)',
    sim,
    s,
    async (signal, deadline) => {
      const worker = next++ % LANES;
      while (Date.now() < deadline && !signal.aborted) {
        const body = request(n++);
        for (let retry = 0; Date.now() < deadline && !signal.aborted; retry++) {
          const key = keyIndex[worker]!;
          try {
            await clients[key]!.chat.completions.create(body, { signal });
            break;
          } catch (error) {
            if (!(error instanceof RateLimitError)) break;
            if (keyIndex[worker] === key) keyIndex[worker] = (key + 1) % KEYS;
            await delay(s.backoffMs * 2 ** retry, undefined, { signal }).catch(() => {});
          }
        }
      }
    },
    LANES * s.perLane,
  );
}

function figures(r: SideResult, from: Snapshot, s: Settings) {
  const seconds = (r.end.at - from.at) / 1000;
  const successes = r.end.stats.successes - from.stats.successes;
  const requests = r.end.stats.requests - from.stats.requests;
  const limited = r.end.stats.rateLimited - from.stats.rateLimited;
  const rate = successes / seconds;
  return {
    seconds,
    successes,
    requests,
    limited,
    rate,
    utilisation: rate / (KEYS * s.limit),
    share: limited / Math.max(1, requests),
  };
}

export const ratelimit: Benchmark = {
  name: 'ratelimit',
  title: '1. Rate-limit utilisation',
  async run(ctx: BenchContext): Promise<string> {
    const s: Settings = {
      limit: ctx.number('limit', 25, 25),
      seconds: ctx.number('seconds', 60, 12),
      warmup: ctx.number('warmup', 5, 3),
      perLane: ctx.number('per-lane', 4, 4),
      latency: ctx.number('latency', 40, 40),
      backoffMs: ctx.number('backoff', 500, 500),
    };
    const keys = ['keybatch', 'baseline'].flatMap((side) =>
      Array.from({ length: KEYS }, (_, k) => ({
        key: keyName(side, k),
        requestsPerWindow: s.limit,
        windowMs: 1000,
      })),
    );
    const sim = await spawnSimulator({ keys, latencyMs: s.latency });
    const results: SideResult[] = [];
    try {
      ctx.log(`ratelimit: keybatch for ${s.seconds} s`);
      results.push(await runKeybatch(sim, s));
      await delay(1000);
      ctx.log(`ratelimit: baseline for ${s.seconds} s`);
      results.push(await runBaseline(sim, s));
    } finally {
      await sim.close();
    }
    const ceiling = KEYS * s.limit;
    const rows = results.map((r) => {
      const all = figures(r, r.start, s);
      const steady = figures(r, r.warm, s);
      return [
        r.name,
        num(all.requests),
        num(all.successes),
        num(all.rate, 1),
        num(all.utilisation, 3),
        num(steady.utilisation, 3),
        pct(all.share),
        pct(steady.share),
      ];
    });
    const kb = results[0]!;
    const base = results[1]!;
    const kbSteady = figures(kb, kb.warm, s);
    const kbAll = figures(kb, kb.start, s);
    const baseSteady = figures(base, base.warm, s);
    const byKey = (r: SideResult) =>
      Object.values(r.end.stats.byKey)
        .map((k) => k.successes - 0)
        .join(' / ');
    return [
      `4 keys × L = ${s.limit} requests/s each (simulator token buckets, \`windowMs: 1000\`; no \`rpm\` in the config), ` +
        `${s.latency} ms latency, ${LANES} lanes × ${s.perLane} = ${LANES * s.perLane} requests in flight on both sides, ` +
        `${s.seconds} s each; steady state = after the first ${s.warmup} s. Ceiling 4·L = ${ceiling} requests/s. ` +
        `Baseline backoff base ${s.backoffMs} ms. Simulator in a child process.`,
      '',
      table(
        ['client', 'requests', 'successes', 'ok/s', 'ok/s ÷ 4L', 'steady ÷ 4L', '429 share', 'steady 429'],
        rows,
      ),
      '',
      `Successes per key — keybatch: ${byKey(kb)}; baseline: ${byKey(base)}.`,
      '',
      `keybatch steady-state utilisation ${num(kbSteady.utilisation, 3)} (target >= ${UTILISATION_TARGET}: ${verdict(kbSteady.utilisation >= UTILISATION_TARGET)}), ` +
        `429 share ${pct(kbAll.share)} (target <= ${pct(RATE_LIMITED_TARGET, 0)}: ${verdict(kbAll.share <= RATE_LIMITED_TARGET)}); ` +
        `×${num(kbSteady.rate / Math.max(1e-9, baseSteady.rate), 2)} the baseline's steady-state throughput.`,
    ].join('\n');
  },
};
