/**
 * keybatch through real HAProxy (a stick table of `http_req_rate(1s)` per Authorization header,
 * more than 20 → 429, refused requests counted too) in front of the simulator: every row exactly
 * once, nothing paid twice, HAProxy's own log counting each refusal as a 429. The utilisation
 * targets of issue 24 (>= 0.9 of the limit, <= 2% refused) are checked over a longer run.
 */
import { describe, expect, it } from 'vitest';
import { startHaproxy } from './haproxy.js';
import { burstThrough, expectExactlyOnce, limitHeaders, runThrough, withLimiter } from './run-through.js';

/** 2 keys × 20 r/s: 60 rows are 1.5 s at the limit (today's pacer takes 3-12 s). */
const ROWS = 60;
/** Today's pacer takes 3-12 s for ROWS (18 s seen on a machine at load 20): room for a busier one. */
const RUN_TIMEOUT_MS = 60_000;
/** 2 keys × 20 r/s × 10 s: long enough that the start does not decide the figure. */
const UTILISATION_ROWS = 400;
/** 400 rows at 0.9 of the limit take 11 s; the rest is room for a busy machine. */
const UTILISATION_TIMEOUT_MS = 60_000;
/**
 * The floor a longer run must clear: far above the 0.001-0.04 the pacer before the law reached here
 * (issue 24), and below the 0.39 seen with the suite at maxWorkers 2 beside three other test runs
 * (load 8 on 2 cores), where the machine, not the pacer, sets the pace.
 */
const UTILISATION_FLOOR = 0.25;
/** The run stops (resumable) when no key is usable this long, so a pacer that waits out a minute stops instead of hanging. */
const WAIT_TIMEOUT_MS = 3000;

describe('HAProxy http_req_rate(1s) > 20 → 429', () => {
  const limiter = (upstream: string) => startHaproxy({ upstream, rate: 20 });

  it('30 requests at once: 20 pass, 10 get a bare 429; refused requests count, so the next is refused too', async () => {
    await withLimiter(limiter, async (haproxy) => {
      const { statuses, refusalHeaders } = await burstThrough(haproxy, 30);
      const passed = statuses.filter((s) => s === 200).length;
      // 20 when the burst falls in one of HAProxy's 1 s periods; its rate weighs the previous
      // period's count by what is left of it, so a burst across the boundary (or spread by a busy
      // machine) may pass a few more.
      expect(passed).toBeGreaterThanOrEqual(20);
      expect(passed).toBeLessThanOrEqual(25);
      expect(statuses.filter((s) => s === 429)).toHaveLength(30 - passed);
      expect(refusalHeaders.flatMap(limitHeaders)).toEqual([]);
      // 30 in the last second, 10 of them refused: still over 20.
      expect((await burstThrough(haproxy, 1)).statuses).toEqual([429]);
      expect(await haproxy.statuses()).toEqual({ '200': passed, '429': 31 - passed });
    });
  });

  it('every row exactly once, nothing paid twice, each refusal a 429 in HAProxy’s own log', {
    timeout: RUN_TIMEOUT_MS,
  }, async () => {
    const t = await runThrough({ rows: ROWS, limiter });
    expect(t.stopped).toBe(false);
    expectExactlyOnce(t, ROWS);
  });

  it('a longer run: every row exactly once, its utilisation and refused share printed', {
    timeout: UTILISATION_TIMEOUT_MS,
  }, async () => {
    const t = await runThrough({ rows: UTILISATION_ROWS, limiter, waitTimeoutMs: WAIT_TIMEOUT_MS });
    expect(t.stopped).toBe(false);
    expectExactlyOnce(t, UTILISATION_ROWS);
    console.log(`utilisation ${t.utilisation.toFixed(3)}, refused ${(100 * t.refused).toFixed(2)}%`);
    expect(t.utilisation).toBeGreaterThan(UTILISATION_FLOOR);
  });

  it.todo(
    'reaches >= 0.9 of the limit with <= 2% refused (issue 24; missed: see BENCHMARKS.md and docs/pacing.md)',
  );
});
