/**
 * The pacing controller against limiters that send rate-limit headers, in a discrete-event
 * simulation (fake clock, seeded): for any limit of 1–2,000 requests a minute and any latency of
 * 10 ms–5 s it settles at >= 95% of the limit with <= 1% refused (second half of the run).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { limitAndLatency, type ModelName, run } from './scenarios.js';

const MODELS: Array<[ModelName, string]> = [
  ['bucket', 'a token bucket, reset = until full (OpenAI headers)'],
  ['fixed', 'fixed windows, reset = until the window ends (OpenAI-style headers)'],
  ['fixed-ietf', 'fixed windows with IETF RateLimit / RateLimit-Policy and retry-after seconds'],
  ['sliding', 'a sliding window log, reset = until the oldest counted request leaves'],
  ['sliding-anthropic', 'a sliding window with anthropic-ratelimit-* instants'],
];

describe('pacing from headers converges on every limiter', () => {
  for (const [model, what] of MODELS) {
    it(`${what}: utilisation >= 0.95, refused <= 1%`, () => {
      fc.assert(
        fc.property(limitAndLatency, ({ rpm, latencyMs, seed }) => {
          const result = run({ model, rpm, latencyMs, seed });
          expect(result.utilisation, `rpm ${rpm}, latency ${latencyMs} ms`).toBeGreaterThanOrEqual(0.95);
          expect(result.refusedShare, `rpm ${rpm}, latency ${latencyMs} ms`).toBeLessThanOrEqual(0.01);
          expect(result.status.mode).toBe('headers');
        }),
        { numRuns: 8, seed: 20261201 },
      );
    });
  }
});
