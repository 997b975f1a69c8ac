/**
 * 1. Rate-limit utilisation over every limiter model (bench/lib/ratelimit-models.ts): token bucket,
 * fixed and sliding windows, other header dialects, no headers (retry-after-ms, bare 429s), tokens
 * per minute, Groq's per-day requests + per-minute tokens, and a slot-bound server (vLLM/Ollama).
 *
 * Per model, one simulator (child process) with 4 keys per side, and the sides run at the same time
 * on their own keys, `--lanes` request loops each, for `--seconds`:
 * - keybatch: this checkout's dist/, one KeyPool, a pool-aware client per lane;
 * - before: another build (`--dist=PATH`, e.g. the build before the pacing controller), the same way;
 * - baseline: the bare openai SDK, fill-first (a lane keeps its key until a 429 or 503 moves it on)
 *   with base·2^n backoff.
 *
 * Figures (after the warm-up): utilisation = successful requests/s ÷ the 4 keys' true limit (tokens
 * used/s ÷ 4·tpm for token limits; for `slots`, ÷ the server's peak throughput); refused share =
 * 429s and 503s ÷ requests over the whole run; converged = the first second after which every 2 s
 * span served >= 90% of the limit.
 */
import { setMaxListeners } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import OpenAI, { APIError } from 'openai';
import type { SimKeySpec, SimStats } from '../src/index.js';
import type { BenchContext, Benchmark } from './lib/bench.js';
import { type Keybatch, loadKeybatch, loadKeybatchFrom, OWN_DIST } from './lib/keybatch.js';
import { type LimiterModel, MODELS, type ModelSettings } from './lib/ratelimit-models.js';
import { type RemoteSimulator, spawnSimulator } from './lib/sim-process.js';
import { num, pct, table } from './lib/table.js';

const KEYS = 4;

interface Settings extends ModelSettings {
  seconds: number;
  warmup: number;
  lanes: number;
  latency: number;
  backoffMs: number;
}

type SideName = 'keybatch' | 'before' | 'baseline';

interface Side {
  name: SideName;
  keys: string[];
  /** Runs one request loop until the deadline. */
  loop(signal: AbortSignal, deadline: number, next: () => number): Promise<void>;
  close(): Promise<void>;
}

/** Per side, per sample: successes, requests, refusals and tokens of its keys so far. */
interface Counts {
  at: number;
  ok: number;
  requests: number;
  refused: number;
  tokens: number;
}

export interface Row {
  model: string;
  side: SideName;
  utilisation: number;
  refused: number;
  unavailable: number;
  convergedS: number | undefined;
  requests: number;
}

const defaultBody = (n: number) => ({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: `rate-limit bench request ${n}` }],
  max_tokens: 16,
});

/** Distinct last 4 characters per side and key (the simulator's stats name keys by them). */
const keyName = (side: number, k: number, model: number) =>
  `sk-bench-ratelimit-m${model}-${side}${k}${String(model).padStart(2, '0')}`;

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

async function poolSide(
  name: SideName,
  lib: Keybatch,
  sim: RemoteSimulator,
  keys: string[],
  body: (n: number) => Record<string, unknown>,
): Promise<Side> {
  const pool = await lib.KeyPool.open(
    { key_list: keys.map((api_key) => ({ api_key, base_url: sim.url })) },
    { notify: false, logger: lib.silentLogger },
  );
  const clients = Array.from({ length: 4 }, (_, lane) => lib.createClient(pool, { workerId: lane }));
  let lane = 0;
  return {
    name,
    keys,
    async loop(signal, deadline, next) {
      const client = clients[lane++ % clients.length]!;
      while (Date.now() < deadline && !signal.aborted) {
        // biome-ignore lint/suspicious/noExplicitAny: the bodies are plain chat requests
        await client.chat.completions.create(body(next()) as any, { signal }).catch(() => {});
      }
    },
    close: () => pool.close(),
  };
}

function baselineSide(
  sim: RemoteSimulator,
  keys: string[],
  s: Settings,
  body: (n: number) => Record<string, unknown>,
): Side {
  const clients = keys.map((apiKey) => new OpenAI({ apiKey, baseURL: sim.url, maxRetries: 0 }));
  let lane = 0;
  return {
    name: 'baseline',
    keys,
    async loop(signal, deadline, next) {
      let key = lane++ % KEYS;
      while (Date.now() < deadline && !signal.aborted) {
        const request = body(next());
        for (let retry = 0; Date.now() < deadline && !signal.aborted; retry++) {
          try {
            // biome-ignore lint/suspicious/noExplicitAny: the bodies are plain chat requests
            await clients[key]!.chat.completions.create(request as any, { signal });
            break;
          } catch (error) {
            if (!(error instanceof APIError) || (error.status !== 429 && error.status !== 503)) break;
            key = (key + 1) % KEYS;
            await delay(Math.min(30_000, s.backoffMs * 2 ** retry), undefined, { signal }).catch(() => {});
          }
        }
      }
    },
    close: async () => {},
  };
}

/** The side's true limit per second in the unit it is measured in. */
function limitOf(model: LimiterModel, s: Settings, stats: SimStats, keys: readonly string[]): number {
  if (model.measure === 'tokens') return (KEYS * s.tpm) / 60;
  if (model.measure === 'requests') return KEYS * s.perKeyPerSecond;
  let peak = 0;
  for (const key of keys) peak += stats.byGroup?.[`sk-…${key.slice(-4)}`]?.peakPerSecond ?? 0;
  return peak;
}

function converged(samples: Counts[], measure: LimiterModel['measure'], limit: number): number | undefined {
  const value = (c: Counts) => (measure === 'tokens' ? c.tokens : c.ok);
  const start = samples[0]!.at;
  let found: number | undefined;
  for (let i = samples.length - 1; i >= 0; i--) {
    const j = samples.findIndex((c) => c.at >= samples[i]!.at + 2000);
    if (j < 0) continue;
    const rate = ((value(samples[j]!) - value(samples[i]!)) * 1000) / (samples[j]!.at - samples[i]!.at);
    if (rate < 0.9 * limit) break;
    found = (samples[i]!.at - start) / 1000;
  }
  return found;
}

async function runModel(
  model: LimiterModel,
  index: number,
  s: Settings,
  libs: Array<{ name: SideName; lib: Keybatch }>,
): Promise<Row[]> {
  const names: SideName[] = [...libs.map((l) => l.name), 'baseline'];
  const keysOf = names.map((_, side) => Array.from({ length: KEYS }, (_, k) => keyName(side, k, index)));
  const spec = model.spec(s);
  const keys: SimKeySpec[] = keysOf.flat().map((key) => ({ key, ...spec }));
  const sim = await spawnSimulator({ keys, latencyMs: s.latency });
  const body = model.body ?? defaultBody;
  const sides: Side[] = [];
  try {
    for (const [i, { name, lib }] of libs.entries())
      sides.push(await poolSide(name, lib, sim, keysOf[i]!, body));
    sides.push(baselineSide(sim, keysOf[libs.length]!, s, body));
    await sim.resetStats();
    const samples: Counts[][] = sides.map(() => []);
    const sample = async () => {
      const stats = await sim.stats();
      const at = Date.now();
      for (const [i, side] of sides.entries()) samples[i]!.push(countsOf(stats, side.keys, at));
      return stats;
    };
    await sample();
    const started = Date.now();
    const deadline = started + s.seconds * 1000;
    const controller = new AbortController();
    setMaxListeners(0, controller.signal);
    let n = 0;
    const next = () => n++;
    const running = sides.flatMap((side) =>
      Array.from({ length: s.lanes }, () => side.loop(controller.signal, deadline, next)),
    );
    while (Date.now() < deadline) {
      await delay(Math.min(500, Math.max(0, deadline - Date.now())));
      await sample();
    }
    const stats = await sample();
    controller.abort();
    await Promise.allSettled(running);
    return sides.map((side, i) => {
      const all = samples[i]!;
      const last = all[all.length - 1]!;
      const warm = all.find((c) => c.at >= started + s.warmup * 1000) ?? all[0]!;
      const limit = limitOf(model, s, stats, side.keys);
      const value = (c: Counts) => (model.measure === 'tokens' ? c.tokens : c.ok);
      const rate = ((value(last) - value(warm)) * 1000) / Math.max(1, last.at - warm.at);
      const byStatus = (code: string) =>
        side.keys.reduce((sum, key) => sum + (stats.byKey[`sk-…${key.slice(-4)}`]?.byStatus[code] ?? 0), 0);
      return {
        model: model.name,
        side: side.name,
        utilisation: rate / Math.max(1e-9, limit),
        refused: last.refused / Math.max(1, last.requests),
        unavailable: byStatus('503') / Math.max(1, last.requests),
        convergedS: converged(all, model.measure, limit),
        requests: last.requests,
      };
    });
  } finally {
    for (const side of sides) await side.close().catch(() => {});
    await sim.close();
  }
}

/** The targets of issue 10 for one keybatch row, given the same run's `before` row. */
export function targetsMissed(row: Row, before: Row | undefined, model: LimiterModel): string[] {
  const missed: string[] = [];
  const util = model.measure === 'tokens' ? 0.9 : model.measure === 'slots' ? 0.9 : 0.95;
  const refused = model.name === 'bucket/openai' || model.measure === 'slots' ? 0.01 : 0.02;
  if (row.utilisation < util) missed.push(`utilisation < ${util}`);
  if (row.refused > refused) missed.push(`refused > ${pct(refused, 0)}`);
  if (before && (row.utilisation < before.utilisation - 0.02 || row.refused > before.refused + 0.005))
    missed.push('worse than before');
  return missed;
}

export const ratelimit: Benchmark = {
  name: 'ratelimit',
  title: '1. Rate-limit utilisation over every limiter model',
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
      lanes: ctx.number('lanes', 48, 48),
      latency: ctx.number('latency', 40, 40),
      backoffMs: ctx.number('backoff', 500, 500),
    };
    const libs: Array<{ name: SideName; lib: Keybatch }> = [
      { name: 'keybatch', lib: await loadKeybatch(OWN_DIST) },
    ];
    const other = process.env['KEYBATCH_DIST'];
    if (other) libs.push({ name: 'before', lib: await loadKeybatchFrom(other) });
    const only = process.env['KEYBATCH_BENCH_MODELS']?.split(',');
    const models = MODELS.filter((m) => !only || only.includes(m.name));
    const rows: Row[] = [];
    for (const [index, model] of models.entries()) {
      ctx.log(`ratelimit: ${model.name} for ${s.seconds} s`);
      rows.push(...(await runModel(model, index, s, libs)));
    }
    const lines = rows.map((r) => {
      const model = models.find((m) => m.name === r.model)!;
      const before = rows.find((b) => b.model === r.model && b.side === 'before');
      const missed = r.side === 'keybatch' ? targetsMissed(r, before, model) : [];
      return [
        r.model,
        r.side,
        num(r.requests),
        num(r.utilisation, 3),
        pct(r.refused),
        model.measure === 'slots' ? pct(r.unavailable) : '-',
        r.convergedS === undefined ? 'never' : `${num(r.convergedS, 1)} s`,
        r.side === 'keybatch' ? (missed.length ? `MISSED: ${missed.join(', ')}` : 'met') : '',
      ];
    });
    const sides = libs.map((l) => l.name).join(', ');
    return [
      `4 keys per side; request limits ${s.perKeyPerSecond}/s per key over ${s.windowMs} ms windows ` +
        `(no \`rpm\` in the config: only the answers tell); token limits ${num(s.tpm)} tokens/min per key ` +
        `(prompts of ~100 tokens, max_tokens 60, settled to usage); slots: ${s.slots} per key, queue ${s.queue}, ` +
        `${s.serviceMs} ms service. ${s.latency} ms latency, ${s.lanes} request loops per side, ${s.seconds} s per model, ` +
        `sides (${sides}, baseline) at the same time on their own keys of one simulator (a child process); ` +
        `utilisation after the first ${s.warmup} s. Baseline: bare SDK, fill-first + ${s.backoffMs}·2^n ms backoff.` +
        (other ? ` before = ${other}.` : ' (no --dist: no before column)'),
      '',
      table(
        ['limiter', 'client', 'requests', 'utilisation', 'refused', '503s', 'converged', 'targets'],
        lines,
      ),
      '',
      'Targets (keybatch rows): utilisation >= 0.95 with <= 2% refused; token bucket <= 1%; token limits >= 0.9; ' +
        'slots >= 0.9 of peak with <= 1% 503s; no row worse than before (by more than 0.02 utilisation or 0.5 points refused).',
    ].join('\n');
  },
};
