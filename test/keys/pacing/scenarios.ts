/** The limiter scenarios the pacing tests (and the figures in the report) run. */
import fc from 'fast-check';
import {
  fixedWindow,
  type ServerModel,
  slidingWindow,
  slotServer,
  tokenBucket,
  tpmBucket,
} from './limiters.js';
import { type SimOptions, type SimResult, simulate } from './sim.js';

export type ModelName =
  | 'bucket'
  | 'fixed'
  | 'fixed-ietf'
  | 'sliding'
  | 'sliding-anthropic'
  | 'retry-after-ms'
  | 'retry-after-s'
  | 'bare'
  | 'bare-fixed'
  | 'slots';

export interface Scenario {
  model: ModelName;
  /** Requests per minute the limiter allows (for `slots`: ignored, see slots/serviceMs). */
  rpm: number;
  latencyMs: number;
  seed: number;
  slots?: number;
  queue?: number;
}

const MINUTE = 60_000;

function server(s: Scenario, phase: number): ServerModel {
  const base = { limit: s.rpm, windowMs: MINUTE } as const;
  switch (s.model) {
    case 'bucket':
      return tokenBucket({ ...base, dialect: 'openai' });
    case 'fixed':
      return fixedWindow({ ...base, dialect: 'openai' }, phase);
    case 'fixed-ietf':
      return fixedWindow({ ...base, dialect: 'ietf', retryAfter: 's' }, phase);
    case 'sliding':
      return slidingWindow({ ...base, dialect: 'openai' });
    case 'sliding-anthropic':
      return slidingWindow({ ...base, dialect: 'anthropic', retryAfter: 's' });
    case 'retry-after-ms':
      return slidingWindow({ ...base, dialect: 'none', retryAfter: 'ms' });
    case 'retry-after-s':
      return fixedWindow({ ...base, dialect: 'none', retryAfter: 's' }, phase);
    case 'bare':
      return slidingWindow({ ...base, dialect: 'none' });
    case 'bare-fixed':
      return fixedWindow({ ...base, dialect: 'none' }, phase);
    case 'slots':
      return slotServer(s.slots ?? 4, s.queue ?? 4, s.latencyMs);
  }
}

export function run(s: Scenario, trace?: SimOptions['trace'], pacer?: SimOptions['pacer']): SimResult {
  const srv = server(s, (s.seed % 997) * 61);
  const trueRate = srv.kind === 'slots' ? srv.peak : s.rpm / MINUTE;
  // Long enough for 16 windows and for 800 requests, measured over the second half.
  const durationMs = Math.max(16 * MINUTE, 800 / trueRate);
  const lanes = Math.ceil(trueRate * s.latencyMs * 1.3 * 3) + 8 + (s.slots ?? 0) * 2 + (s.queue ?? 0) * 2;
  return simulate({
    server: srv,
    trueRate,
    latencyMs: s.latencyMs,
    lanes,
    durationMs,
    measureFromMs: durationMs / 2,
    bucketMs: Math.max(MINUTE, 20 / trueRate),
    seed: s.seed,
    ...(trace ? { trace } : {}),
    ...(pacer ? { pacer } : {}),
  });
}

/** Any limit of 1–2,000 requests a minute and latency of 10 ms–5 s, log-uniform (small values as often as large). */
export const limitAndLatency = fc.record({
  rpm: fc
    .double({ min: 0, max: Math.log(2000), noNaN: true })
    .map((x) => Math.max(1, Math.round(Math.exp(x)))),
  latencyMs: fc
    .double({ min: Math.log(10), max: Math.log(5000), noNaN: true })
    .map((x) => Math.round(Math.exp(x))),
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
});

export interface TpmScenario {
  /** Tokens per minute the server allows (no request limit). */
  tpm: number;
  latencyMs: number;
  seed: number;
  /** Whether the pacer is told each answer's usage (else it only ever knows the estimates). */
  settle: boolean;
}

/**
 * A tokens-per-minute limit: prompts of 200–1,000 tokens with max_tokens 500, of which 50–500 are
 * used; the server counts prompt + max_tokens at admission and settles to usage at completion.
 * Utilisation is tokens used per minute ÷ the limit.
 */
export function runTpm(s: TpmScenario): SimResult {
  const tokensPerMs = s.tpm / MINUTE;
  const meanUsed = 600 + 275;
  const requestRate = tokensPerMs / meanUsed;
  const durationMs = Math.max(16 * MINUTE, 800 / requestRate);
  const result = simulate({
    server: tpmBucket(s.tpm),
    trueRate: requestRate,
    latencyMs: s.latencyMs,
    lanes: Math.ceil(requestRate * s.latencyMs * 1.3 * 3) + 8,
    durationMs,
    measureFromMs: durationMs / 2,
    bucketMs: Math.max(MINUTE, 20 / requestRate),
    seed: s.seed,
    tokens: (random) => {
      const prompt = Math.round(200 + 800 * random());
      const completion = Math.round(50 + 450 * random());
      return { estimate: prompt + 500, used: prompt + completion };
    },
    reportUsage: s.settle,
  });
  return { ...result, utilisation: result.tokensPerMs / tokensPerMs };
}
