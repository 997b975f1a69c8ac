/**
 * Runs one drawn scenario as a discrete-event simulation: 1–8 processes, each with its own lanes,
 * pacing through the pacer the factory gives it (one shared domain, or one each), against the
 * scenario's server. Deterministic for a seed; no wall clock.
 */
import type { Sample as Answer } from '../../../../src/keys/domain/law.js';
import { parseLimits } from '../../../../src/keys/pacing/dialects.js';
import { EventQueue, rng } from '../sim.js';
import type { Scenario } from './draw.js';
import { makeServer, type Server, type Verdict } from './servers.js';

/** What the harness drives: the four calls a process makes on its domain's pacer. */
export interface HarnessPacer {
  readyAt(now: number, tokens: number): number;
  onSend(now: number, tokens: number): number;
  onAnswer(now: number, answer: Answer): void;
}

/** Pacers for `processes` processes on one domain (the same one for all, or one each). */
export type PacerFactory = (processes: number) => HarnessPacer[];

export interface RunResult {
  /** Admitted answers per ms over the run ÷ the true limit (or ÷ the bare loop's). */
  utilisation: number;
  /** Refused ÷ answered. */
  refused: number;
  sent: number;
  durationMs: number;
}

const RATE_KINDS = new Set(['bucket', 'fixed', 'sliding', 'leaky', 'leaky-burst', 'gcra']);
/** Lanes of all processes together, at most: enough for 200/s at 10 s median latency with a tail. */
const MAX_LANES = 3000;

function gaussian(random: () => number): number {
  const u = Math.max(1e-12, random());
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

export const meanLatency = (s: Scenario) => s.medianMs * Math.exp((s.sigma * s.sigma) / 2);

interface Plan {
  lanes: number;
  processes: number;
  durationMs: number;
}

function simulate(s: Scenario, plan: Plan, factory: PacerFactory, seed: number) {
  const random = rng(seed);
  const queue = new EventQueue();
  const schedule = (t: number, fn: () => void) => queue.push(t, fn);
  // GCRA kinds pace per second (nginx `rate=N r/s`); window kinds allow `limit` per window.
  const paced = s.kind === 'leaky' || s.kind === 'leaky-burst' || s.kind === 'gcra';
  const windowMs = paced ? 1000 : s.windowMs;
  const server: Server = makeServer(
    {
      kind: s.kind,
      limit: Math.round(((s.perSecond * windowMs) / 1000) * 1e6) / 1e6,
      windowMs,
      burst: s.burst,
      dialect: s.dialect,
      retry: s.retry,
      slots: s.slots,
      queue: s.queue,
      baseMs: s.baseMs,
      perRunningMs: s.perRunningMs,
      failures: s.failures,
      latency: () => Math.min(120_000, Math.max(1, s.medianMs * Math.exp(s.sigma * gaussian(random)))),
      random,
      schedule,
    },
    Math.floor(random() * s.windowMs),
  );
  const pacers = factory(plan.processes);
  const lanes = Math.ceil(plan.lanes / plan.processes);
  const busy = new Array<number>(plan.processes).fill(0);
  const wakeAt = new Array<number>(plan.processes).fill(Number.POSITIVE_INFINITY);
  let sent = 0;
  let admitted = 0;
  let refused = 0;

  const answer = (p: number, t: number, seq: number, sentAt: number, verdict: Verdict) => {
    busy[p]! -= 1;
    pacers[p]!.onAnswer(t, {
      seq,
      status: verdict.status,
      latencyMs: t - sentAt,
      headers: parseLimits(verdict.headers, t),
    });
    if (verdict.refused) refused += 1;
    else admitted += 1;
    for (let i = 0; i < plan.processes; i++) dispatch(i, t);
  };
  const send = (p: number, now: number) => {
    const seq = pacers[p]!.onSend(now, 1);
    busy[p]! += 1;
    sent += 1;
    const up = 1 + 2 * random();
    schedule(now + up, () =>
      server.arrive(now + up, (done, verdict) =>
        schedule(done + up, () => answer(p, done + up, seq, now, verdict)),
      ),
    );
  };
  const dispatch = (p: number, now: number) => {
    while (busy[p]! < lanes) {
      const at = pacers[p]!.readyAt(now, 1);
      if (at <= now) {
        send(p, now);
        continue;
      }
      if (Number.isFinite(at) && at < wakeAt[p]!) {
        wakeAt[p] = at;
        schedule(at, () => {
          if (wakeAt[p] === at) wakeAt[p] = Number.POSITIVE_INFINITY;
          dispatch(p, at);
        });
      }
      break;
    }
  };
  if (s.change !== 1) schedule(plan.durationMs / 2, () => server.scale(s.change));
  for (let p = 0; p < plan.processes; p++) schedule(p * random(), () => dispatch(p, p * random()));
  for (let e = queue.pop(); e && e.t <= plan.durationMs; e = queue.pop()) e.fn();
  return { sent, admitted, refused };
}

/** An unpaced client: what a bare `p-limit` loop does. */
export const bareLoop: PacerFactory = (processes) => {
  let seq = 0;
  const bare: HarnessPacer = { readyAt: (now) => now, onSend: () => ++seq, onAnswer() {} };
  return new Array(processes).fill(bare);
};

/** The scenario's run with `factory`'s pacers, judged against the true limit or a bare loop. */
export function runScenario(s: Scenario, factory: PacerFactory): RunResult {
  const mean = meanLatency(s);
  if (RATE_KINDS.has(s.kind)) {
    const rate = s.perSecond / 1000;
    const after = s.perSecondAfter / 1000;
    const peak = Math.max(rate, after);
    const lanes = Math.min(MAX_LANES, Math.ceil(peak * mean * 2.5) + 8);
    const durationMs = Math.max(Math.min(Math.max(10 * s.windowMs, 1000 / rate), 10_000 / rate), 20 * mean);
    const result = simulate(s, { lanes, processes: s.processes, durationMs }, factory, s.seed);
    // The limit over the run (halved or doubled at mid-run), and never more than the lanes can carry.
    const limit = (rate + after) / 2;
    const possible = Math.min(limit, lanes / mean) * (durationMs - mean);
    const answered = result.admitted + result.refused;
    return {
      utilisation: result.admitted / possible,
      refused: answered === 0 ? 0 : result.refused / answered,
      sent: result.sent,
      durationMs,
    };
  }
  // Slot-bound and unlimited servers: against a bare loop at the concurrency that fills the server.
  const fill = s.kind === 'unlimited' ? s.concurrency : s.slots;
  const lanes = s.kind === 'unlimited' ? s.concurrency : 2 * (s.slots + s.queue) + 16;
  const latency = s.kind === 'batching' ? s.baseMs + s.perRunningMs * s.slots : mean;
  const durationMs = Math.max((3000 * latency) / fill, 20 * latency);
  const bare = simulate(s, { lanes: fill, processes: 1, durationMs }, bareLoop, s.seed);
  const result = simulate(s, { lanes, processes: s.processes, durationMs }, factory, s.seed);
  const answered = result.admitted + result.refused;
  return {
    utilisation: result.admitted / Math.max(1, bare.admitted),
    refused: answered === 0 ? 0 : result.refused / answered,
    sent: result.sent,
    durationMs,
  };
}
