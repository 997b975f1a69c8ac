/**
 * The pacing law over randomly drawn scenarios (issue 24's harness): every limiter kind, window,
 * limit, latency, header dialect, retry-after form, 1–8 processes on one store, a limit changed
 * mid-run, stray server errors. A fresh seed every run, printed; `PACING_SEED=<n>` replays it and
 * `npx tsx test/keys/pacing/space/print.ts law 1000` prints the distribution over more draws.
 */
import { describe, expect, it } from 'vitest';
import { judge, masterSeed, summary } from './space/judge.js';
import { lawPacer } from './space/law.js';
import { todaysPacer } from './space/today.js';

/** Enough draws for every kind to come up several times, in seconds of simulated event loop. */
const DRAWS = 100;

describe('the pacing law over the whole space of limiters', () => {
  it('does better than the earlier pacer on the same draws: a higher median and p1, fewer refusals', () => {
    const seed = masterSeed();
    const law = judge(lawPacer, seed, DRAWS);
    const today = judge(todaysPacer, seed, DRAWS);
    console.log(`law:\n${summary(law)}\nearlier pacer:\n${summary(today)}`);
    expect(law.p50, `PACING_SEED=${seed}`).toBeGreaterThan(today.p50);
    expect(law.p1, `PACING_SEED=${seed}`).toBeGreaterThan(today.p1);
    expect(law.refusedP99, `PACING_SEED=${seed}`).toBeLessThan(today.refusedP99);
  }, 180_000);

  it('holds the median draw at 0.85 of the limit and 9 draws in 10 under 10% refused (a floor against regressions, not the bar of issue 24)', () => {
    const seed = masterSeed();
    const law = judge(lawPacer, seed, DRAWS);
    console.log(`law:\n${summary(law)}`);
    expect(law.p50, `PACING_SEED=${seed}`).toBeGreaterThanOrEqual(0.85);
    const refused = law.runs.map((r) => r.result.refused).sort((a, b) => a - b);
    expect(refused[Math.floor(0.9 * refused.length)], `PACING_SEED=${seed}`).toBeLessThanOrEqual(0.1);
  }, 180_000);

  it.todo(
    'the worst draw reaches 0.85 of the limit with <= 3% refused, and p1 0.9 (not met yet: docs/pacing.md)',
  );
});
