/**
 * Four processes on one rate domain, on a fake clock (shared-sim.ts): sharing the schedule they
 * keep within the limit together; pacing alone, each believes it has the whole limit.
 */
import { describe, expect, it } from 'vitest';
import { fixedWindow, slidingWindow, tokenBucket } from '../pacing/limiters.js';
import { simulateShared } from './shared-sim.js';

const LIMIT = 600; // per minute: 10/s
const base = {
  trueRate: LIMIT / 60_000,
  latencyMs: 200,
  processes: 4,
  lanes: 4,
  durationMs: 240_000,
  measureFromMs: 60_000,
  seed: 7,
};

describe.each([
  [
    'token bucket, OpenAI headers',
    () => tokenBucket({ limit: LIMIT, windowMs: 60_000, dialect: 'openai', retryAfter: 'ms' }),
  ],
  [
    'fixed window, IETF headers',
    () => fixedWindow({ limit: LIMIT, windowMs: 60_000, dialect: 'ietf', retryAfter: 's' }),
  ],
  [
    'sliding window, OpenAI headers',
    () => slidingWindow({ limit: LIMIT, windowMs: 60_000, dialect: 'openai', retryAfter: 'ms' }),
  ],
  [
    'sliding window, no headers, retry-after-ms',
    () => slidingWindow({ limit: LIMIT, windowMs: 60_000, dialect: 'none', retryAfter: 'ms' }),
  ],
])('4 processes, %s', (_, server) => {
  it('sharing one schedule: within the limit together, >= 0.9 of it used, <= 2% refused', () => {
    const shared = simulateShared({ ...base, server: server(), shared: true });
    const separate = simulateShared({ ...base, server: server(), shared: false });
    expect(shared.refusedShare).toBeLessThanOrEqual(0.02);
    expect(shared.utilisation).toBeGreaterThanOrEqual(0.9);
    // Never more than the limit between them (the separate processes' figure, for the record: the
    // headers' `remaining` already tells each what the others spent, so on a fake clock they also
    // keep close to it; real processes on a busy machine do not, see processes.test.ts).
    expect(shared.utilisation).toBeLessThanOrEqual(1);
    expect(separate.ok).toBeGreaterThan(0);
  });
});

// Bench 7's rows without headers on a fake clock: 4 processes of 40 ms latency on a sliding window.
describe.each([
  {
    name: 'retry-after-ms: slow start ends at what the domain accepted, not this process alone',
    // Before slow start counted the other processes' sends it ended at a quarter: 0.24.
    trueRate: 40 / 1000,
    lanes: 12,
    server: () => slidingWindow({ limit: 2400, windowMs: 60_000, dialect: 'none', retryAfter: 'ms' }),
  },
  {
    name: 'bare 429s: one probe per domain after a loss pause, not one per process',
    // Before the domain had one probe (each process probed the spent window on its own): 3.0% refused.
    trueRate: 10 / 1000,
    lanes: 3,
    server: () => slidingWindow({ limit: 600, windowMs: 60_000, dialect: 'none', retryAfter: 'none' }),
  },
])(
  '4 processes on a sliding window without headers (bench 7 on a fake clock)',
  ({ name, trueRate, lanes, server }) => {
    it(`${name}: >= 0.9 of the limit, <= 2% refused`, () => {
      const result = simulateShared({
        trueRate,
        latencyMs: 40,
        processes: 4,
        lanes,
        durationMs: 120_000,
        measureFromMs: 60_000,
        seed: 3,
        server: server(),
        shared: true,
      });
      expect(result.utilisation).toBeGreaterThanOrEqual(0.9);
      expect(result.refusedShare).toBeLessThanOrEqual(0.02);
    });
  },
);

it("slow start's end is the domain's: the other processes stop at its first refusal, not at their own", () => {
  // Refusals answered after the same 40 ms as served requests (as the simulator does), 6 loops per
  // process: what the others send after the first refusal came back is refused too. Before the cut
  // was handed on through Redis (each process doubled until its own refusal): 7 such refusals.
  const result = simulateShared({
    trueRate: 10 / 1000,
    latencyMs: 40,
    refusalLatencyMs: 40,
    processes: 4,
    lanes: 6,
    durationMs: 120_000,
    measureFromMs: 60_000,
    seed: 3,
    server: slidingWindow({ limit: 600, windowMs: 60_000, dialect: 'none', retryAfter: 'none' }),
    shared: true,
  });
  expect(result.refusedAfterFirst).toBeLessThanOrEqual(4);
  expect(result.utilisation).toBeGreaterThanOrEqual(0.9);
});
