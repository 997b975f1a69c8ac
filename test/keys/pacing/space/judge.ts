/**
 * Runs many drawn scenarios and sums them up: the worst draw, p1 and p50 of utilisation, p99 and
 * worst of the refused share. The master seed comes from `PACING_SEED` (to replay a failure) or is
 * fresh; each draw's seed is derived from it, and printed with any failure.
 */
import { rng } from '../sim.js';
import { describeScenario, drawScenario, type Scenario } from './draw.js';
import { type PacerFactory, type RunResult, runScenario } from './run.js';

export interface Judged {
  seed: number;
  draws: number;
  worst: { scenario: Scenario; result: RunResult };
  p1: number;
  p50: number;
  refusedP99: number;
  worstRefused: { scenario: Scenario; result: RunResult };
  ms: number;
  /** Every draw, worst utilisation first. */
  runs: Array<{ scenario: Scenario; result: RunResult }>;
}

export function masterSeed(env: NodeJS.ProcessEnv = process.env): number {
  const given = Number(env['PACING_SEED']);
  return Number.isInteger(given) && given > 0 ? given : 1 + Math.floor(Math.random() * 2 ** 31);
}

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.floor(q * sorted.length)))]!;

/** Draws `draws` scenarios from `seed` and runs each with `factory`'s pacers. */
export function judge(
  factory: PacerFactory,
  seed: number,
  draws: number,
  only?: (s: Scenario) => boolean,
): Judged {
  const started = performance.now();
  const next = rng(seed);
  const runs: Array<{ scenario: Scenario; result: RunResult }> = [];
  while (runs.length < draws) {
    const scenario = drawScenario(1 + Math.floor(next() * 2 ** 31));
    if (only && !only(scenario)) continue;
    runs.push({ scenario, result: runScenario(scenario, factory) });
  }
  const byUse = [...runs].sort((a, b) => a.result.utilisation - b.result.utilisation);
  const byRefused = [...runs].sort((a, b) => a.result.refused - b.result.refused);
  const use = byUse.map((r) => r.result.utilisation);
  return {
    seed,
    draws,
    worst: byUse[0]!,
    p1: quantile(use, 0.01),
    p50: quantile(use, 0.5),
    refusedP99: quantile(
      byRefused.map((r) => r.result.refused),
      0.99,
    ),
    worstRefused: byRefused[byRefused.length - 1]!,
    ms: performance.now() - started,
    runs: byUse,
  };
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

export function summary(j: Judged): string {
  return [
    `PACING_SEED=${j.seed}, ${j.draws} draws in ${Math.round(j.ms)} ms`,
    `utilisation worst ${j.worst.result.utilisation.toFixed(3)} (${describeScenario(j.worst.scenario)}; refused ${pct(j.worst.result.refused)})`,
    `utilisation p1 ${j.p1.toFixed(3)}, p50 ${j.p50.toFixed(3)}`,
    `refused p99 ${pct(j.refusedP99)}, worst ${pct(j.worstRefused.result.refused)} (${describeScenario(j.worstRefused.scenario)}; utilisation ${j.worstRefused.result.utilisation.toFixed(3)})`,
  ].join('\n');
}
