/**
 * 7. One key pool shared by many processes (issue 11): 4 processes on the same 4 keys (L req/s
 * each), per limiter model of bench 1, two sides at the same time on their own 4 keys of one
 * simulator (a child process):
 * - shared: the 4 processes open the pool with `shared: { url }` (one redis-server, started here);
 * - separate: the same 4 processes, each with a pool of its own (the baseline: each believes it has
 *   the whole limit).
 * Each process is this file run as a child (`--shared-child`) on the built dist/, with `--lanes`
 * request loops of one `createClient` each. Figures after the warm-up as in bench 1: utilisation =
 * successful requests/s ÷ 4·L (tokens/s ÷ 4·tpm; slots: ÷ the server's peak); refused = 429s and
 * 503s ÷ all requests of the side over the whole run.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { createRequire } from 'node:module';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { SimKeySpec, SimStats } from '../src/index.js';
import type { BenchContext, Benchmark } from './lib/bench.js';
import { distIndex } from './lib/keybatch.js';
import { type LimiterModel, MODELS, type ModelSettings } from './lib/ratelimit-models.js';
import { startRedis } from './lib/redis.js';
import { spawnSimulator } from './lib/sim-process.js';
import { num, pct, table } from './lib/table.js';

const KEYS = 4;
const PROCESSES = 4;

interface ChildArgs {
  dist: string;
  sim: string;
  keys: string[];
  redis?: string;
  namespace: string;
  lanes: number;
  body: 'default' | 'tokens';
}

const defaultBody = (n: number) => ({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: `shared bench request ${n}` }],
  max_tokens: 16,
});

/** A process of a side: opens its pool, says `ready`, runs its loops from `go` until `deadline`. */
async function child(args: ChildArgs): Promise<void> {
  const lib = (await import(args.dist)) as typeof import('../src/index.js');
  const { MODELS: models } = await import('./lib/ratelimit-models.js');
  const tokenBody = models.find((m) => m.body)?.body;
  const body = args.body === 'tokens' && tokenBody ? tokenBody : defaultBody;
  const pool = await lib.KeyPool.open(
    { key_list: args.keys.map((api_key) => ({ api_key, base_url: args.sim })) },
    {
      notify: false,
      logger: lib.silentLogger,
      env: {},
      shared: args.redis ? { url: args.redis, namespace: args.namespace } : false,
    },
  );
  const clients = Array.from({ length: args.lanes }, (_, lane) => lib.createClient(pool, { workerId: lane }));
  const { deadline } = await new Promise<{ deadline: number }>((resolve) => {
    process.once('message', (message) => resolve(message as { deadline: number }));
    process.send?.('ready');
  });
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  let n = 0;
  await Promise.all(
    clients.map(async (client) => {
      while (Date.now() < deadline) {
        await client.chat.completions
          // biome-ignore lint/suspicious/noExplicitAny: plain chat bodies
          .create(body(n++) as any, { signal: controller.signal })
          .catch(() => {});
      }
    }),
  );
  await pool.close();
  process.send?.('done');
  process.disconnect?.();
}

if (process.argv[2] === '--shared-child') {
  await child(JSON.parse(process.argv[3]!) as ChildArgs);
}

interface Proc {
  proc: ChildProcess;
  ready: Promise<void>;
  done: Promise<void>;
}

function startProcess(args: ChildArgs): Proc {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const proc = fork(fileURLToPath(import.meta.url), ['--shared-child', JSON.stringify(args)], {
    execArgv: ['--import', tsx],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const message = (what: string) =>
    new Promise<void>((resolve, reject) => {
      proc.on('message', (m) => m === what && resolve());
      proc.once('exit', (code) =>
        reject(new Error(`a shared-bench process exited (${code}) before '${what}'`)),
      );
    });
  const ready = message('ready');
  const done = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  ready.catch(() => {});
  return { proc, ready, done };
}

interface Settings extends ModelSettings {
  seconds: number;
  warmup: number;
  lanes: number;
  latency: number;
}

interface Counts {
  at: number;
  ok: number;
  requests: number;
  refused: number;
  tokens: number;
}

function countsOf(stats: SimStats, keys: readonly string[], at: number): Counts {
  const c: Counts = { at, ok: 0, requests: 0, refused: 0, tokens: 0 };
  for (const key of keys) {
    const k = stats.byKey[`sk-…${key.slice(-4)}`];
    if (!k) continue;
    c.ok += k.successes;
    c.requests += k.requests;
    c.refused += (k.byStatus['429'] ?? 0) + (k.byStatus['503'] ?? 0);
    c.tokens += k.tokens;
  }
  return c;
}

function limitOf(model: LimiterModel, s: Settings, stats: SimStats, keys: readonly string[]): number {
  if (model.measure === 'tokens') return (KEYS * s.tpm) / 60;
  if (model.measure === 'requests') return KEYS * s.perKeyPerSecond;
  let peak = 0;
  for (const key of keys) peak += stats.byGroup?.[`sk-…${key.slice(-4)}`]?.peakPerSecond ?? 0;
  return peak;
}

interface Row {
  model: string;
  side: 'shared' | 'separate';
  requests: number;
  utilisation: number;
  refused: number;
}

const keyName = (side: number, k: number, model: number) =>
  `sk-bench-shared-m${model}-${side}${k}${String(model).padStart(2, '0')}`;

async function runModel(model: LimiterModel, index: number, s: Settings, redis: string): Promise<Row[]> {
  const sides = ['shared', 'separate'] as const;
  const keysOf = sides.map((_, side) => Array.from({ length: KEYS }, (_, k) => keyName(side, k, index)));
  const spec = model.spec(s);
  const keys: SimKeySpec[] = keysOf.flat().map((key) => ({ key, ...spec }));
  const sim = await spawnSimulator({ keys, latencyMs: s.latency });
  const procs: Proc[] = [];
  try {
    for (const [side, name] of sides.entries()) {
      for (let p = 0; p < PROCESSES; p++) {
        procs.push(
          startProcess({
            dist: distIndex().href,
            sim: sim.url,
            keys: keysOf[side]!,
            ...(name === 'shared' ? { redis } : {}),
            namespace: `bench-${index}`,
            lanes: s.lanes,
            body: model.body ? 'tokens' : 'default',
          }),
        );
      }
    }
    await Promise.all(procs.map((p) => p.ready));
    await sim.resetStats();
    const samples: Counts[][] = sides.map(() => []);
    const sample = async () => {
      const stats = await sim.stats();
      const at = Date.now();
      for (const side of sides.keys()) samples[side]!.push(countsOf(stats, keysOf[side]!, at));
      return stats;
    };
    await sample();
    const started = Date.now();
    const deadline = started + s.seconds * 1000;
    for (const p of procs) p.proc.send({ deadline });
    while (Date.now() < deadline) {
      await delay(Math.min(500, Math.max(0, deadline - Date.now())));
      await sample();
    }
    const stats = await sample();
    await Promise.all(procs.map((p) => p.done));
    return sides.map((side, i) => {
      const all = samples[i]!;
      const last = all[all.length - 1]!;
      const warm = all.find((c) => c.at >= started + s.warmup * 1000) ?? all[0]!;
      const value = (c: Counts) => (model.measure === 'tokens' ? c.tokens : c.ok);
      const rate = ((value(last) - value(warm)) * 1000) / Math.max(1, last.at - warm.at);
      return {
        model: model.name,
        side,
        requests: last.requests,
        utilisation: rate / Math.max(1e-9, limitOf(model, s, stats, keysOf[i]!)),
        refused: last.refused / Math.max(1, last.requests),
      };
    });
  } finally {
    for (const p of procs) if (p.proc.exitCode === null) p.proc.kill('SIGKILL');
    await sim.close();
  }
}

export const shared: Benchmark = {
  name: 'shared',
  title: '7. One key pool shared by 4 processes (Redis) vs 4 separate pools',
  async run(ctx: BenchContext): Promise<string> {
    const s: Settings = {
      perKeyPerSecond: ctx.number('limit', 10, 10),
      windowMs: ctx.number('window', 60_000, 60_000),
      tpm: ctx.number('tpm', 48_000, 48_000),
      slots: ctx.number('slots', 2, 2),
      queue: ctx.number('queue', 4, 4),
      serviceMs: ctx.number('service', 100, 100),
      seconds: ctx.number('seconds', 120, 20),
      warmup: ctx.number('warmup', 60, 8),
      lanes: ctx.number('lanes', 12, 12),
      latency: ctx.number('latency', 40, 40),
    };
    const only = process.env['KEYBATCH_BENCH_MODELS']?.split(',');
    const models = MODELS.filter((m) => !only || only.includes(m.name));
    const redis = await startRedis();
    const rows: Row[] = [];
    try {
      for (const [index, model] of models.entries()) {
        ctx.log(`shared: ${model.name} for ${s.seconds} s`);
        rows.push(...(await runModel(model, index, s, redis.url)));
      }
    } finally {
      await redis.close();
    }
    const lines = rows.map((r) => {
      const missed: string[] = [];
      if (r.side === 'shared') {
        if (r.utilisation < 0.9) missed.push('utilisation < 0.9');
        if (r.refused > 0.02) missed.push('refused > 2%');
      }
      return [
        r.model,
        r.side,
        num(r.requests),
        num(r.utilisation, 3),
        pct(r.refused),
        r.side === 'shared' ? (missed.length ? `MISSED: ${missed.join(', ')}` : 'met') : '',
      ];
    });
    return [
      `${PROCESSES} processes per side on the same ${KEYS} keys; request limits ${s.perKeyPerSecond}/s per key over ` +
        `${s.windowMs} ms windows (no \`rpm\` in the config), token limits ${num(s.tpm)} tokens/min per key, slots ` +
        `${s.slots} per key (queue ${s.queue}, ${s.serviceMs} ms service); ${s.latency} ms latency; ${s.lanes} request ` +
        `loops per process; ${s.seconds} s per model, both sides at the same time on their own keys of one simulator; ` +
        `utilisation after the first ${s.warmup} s. shared = one Redis (started by the benchmark); separate = a pool per process.`,
      '',
      table(['limiter', 'pools', 'requests', 'utilisation', 'refused', 'targets'], lines),
      '',
      'Targets (shared rows): utilisation >= 0.9 of the limit with <= 2% refused, on every limiter model.',
    ].join('\n');
  },
};
