/**
 * One random scenario of the pacing harness, drawn from a seed over the whole space the issue
 * names: windows 1–60 s, limits 0.2–200 requests/s per key, latency 10 ms–10 s log-normal with a
 * heavy tail, every limiter kind, every header dialect or none, every retry-after form or none,
 * 1–8 processes on one store, a limit halved or doubled mid-run, 0–5% stray 500/503s.
 */
import { rng } from '../sim.js';
import type { HeaderDialect, Kind, RetryForm } from './servers.js';

export interface Scenario {
  seed: number;
  kind: Kind;
  windowMs: number;
  /** Requests per second the limiter allows at the start (rate kinds). */
  perSecond: number;
  burst: number;
  dialect: HeaderDialect;
  retry: RetryForm;
  /** Median service time and the log-normal's sigma (0.2–1: up to a p99 of 10× the median). */
  medianMs: number;
  sigma: number;
  processes: number;
  /** The limit is multiplied by this at mid-run (1: unchanged); `perSecondAfter` is what it comes to. */
  change: number;
  perSecondAfter: number;
  failures: number;
  /** Concurrency-only and batching. */
  slots: number;
  queue: number;
  baseMs: number;
  perRunningMs: number;
  /** Unlimited: the concurrency both the pacer's client and the bare loop run at. */
  concurrency: number;
}

const KINDS: Kind[] = [
  'bucket',
  'fixed',
  'sliding',
  'leaky',
  'leaky-burst',
  'gcra',
  'concurrency',
  'batching',
  'unlimited',
];
const DIALECTS: HeaderDialect[] = ['openai', 'ietf', 'anthropic', 'none'];
const RETRIES: RetryForm[] = ['none', 'ms', 's', 'date'];

const logUniform = (r: () => number, min: number, max: number) =>
  Math.exp(Math.log(min) + (Math.log(max) - Math.log(min)) * r());
const pick = <T>(r: () => number, list: readonly T[]): T => list[Math.floor(r() * list.length)]!;

export function drawScenario(seed: number): Scenario {
  const r = rng(seed);
  const kind = pick(r, KINDS);
  // nginx `limit_req` sends no rate-limit headers; every other rate limiter may.
  const headered = kind === 'bucket' || kind === 'fixed' || kind === 'sliding' || kind === 'gcra';
  const windowMs = Math.round(logUniform(r, 1000, 60_000));
  // A window allows a whole number of requests, at least one: the rate is what that comes to.
  const drawn = logUniform(r, 0.2, 200);
  const windowed = kind === 'bucket' || kind === 'fixed' || kind === 'sliding';
  const perSecond = windowed ? Math.max(1, Math.round((drawn * windowMs) / 1000)) / (windowMs / 1000) : drawn;
  const change =
    kind === 'concurrency' || kind === 'batching' || kind === 'unlimited' ? 1 : pick(r, [1, 0.5, 2]);
  const slots = Math.round(logUniform(r, 1, 128));
  const baseMs = logUniform(r, 10, 2000);
  return {
    seed,
    kind,
    windowMs,
    perSecond,
    burst:
      kind === 'leaky-burst' ? Math.round(logUniform(r, 1, 50)) : kind === 'gcra' ? Math.floor(r() * 20) : 0,
    dialect: headered ? pick(r, DIALECTS) : 'none',
    retry: kind === 'batching' || kind === 'unlimited' ? 'none' : pick(r, RETRIES),
    medianMs: logUniform(r, 10, 10_000),
    sigma: 0.2 + 0.8 * r(),
    processes: 1 + Math.floor(r() * 8),
    change,
    perSecondAfter: windowed
      ? Math.max(1, Math.round((perSecond * change * windowMs) / 1000)) / (windowMs / 1000)
      : perSecond * change,
    failures: 0.05 * r(),
    slots,
    queue: Math.floor(r() * (slots + 1)),
    baseMs,
    perRunningMs: (baseMs / slots) * logUniform(r, 0.1, 4),
    concurrency: Math.round(logUniform(r, 4, 128)),
  };
}

/** One line naming the scenario (for the failure message and the replay). */
export function describeScenario(s: Scenario): string {
  const parts = [`seed ${s.seed}`, s.kind];
  if (['bucket', 'fixed', 'sliding'].includes(s.kind))
    parts.push(`${Math.round(s.perSecond * s.windowMs) / 1000} per ${s.windowMs} ms`);
  if (['leaky', 'leaky-burst', 'gcra'].includes(s.kind))
    parts.push(`${s.perSecond.toFixed(2)}/s burst ${s.burst}`);
  if (s.kind === 'concurrency') parts.push(`${s.slots} slots`);
  if (s.kind === 'batching')
    parts.push(
      `${s.slots} slots, queue ${s.queue}, ${Math.round(s.baseMs)} + ${s.perRunningMs.toFixed(1)} ms × running`,
    );
  if (s.kind === 'unlimited') parts.push(`concurrency ${s.concurrency}`);
  parts.push(`headers ${s.dialect}`, `retry-after ${s.retry}`);
  if (s.kind !== 'batching') parts.push(`latency ${Math.round(s.medianMs)} ms σ ${s.sigma.toFixed(2)}`);
  parts.push(`${s.processes} process${s.processes > 1 ? 'es' : ''}`);
  if (s.change !== 1) parts.push(`limit ×${s.change} mid-run`);
  parts.push(`${(100 * s.failures).toFixed(1)}% stray errors`);
  return parts.join(', ');
}
