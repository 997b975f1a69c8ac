/** The limiter scenarios the pacing tests (and the figures in the report) run. */
import fc from 'fast-check';
import { type RateServerSpec, rateServer, type ServerModel, slotServer } from './model-servers.js';
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

/** Each model: the simulator's limiter, its header dialect and `retry-after` form. */
const MODELS: Record<Exclude<ModelName, 'slots'>, Pick<RateServerSpec, 'model' | 'dialect' | 'retry'>> = {
  bucket: { model: 'bucket', dialect: 'openai', retry: 'none' },
  fixed: { model: 'fixed', dialect: 'openai', retry: 'none' },
  'fixed-ietf': { model: 'fixed', dialect: 'ietf', retry: 's' },
  sliding: { model: 'sliding', dialect: 'openai', retry: 'none' },
  'sliding-anthropic': { model: 'sliding', dialect: 'anthropic', retry: 's' },
  'retry-after-ms': { model: 'sliding', dialect: 'none', retry: 'ms' },
  'retry-after-s': { model: 'fixed', dialect: 'none', retry: 's' },
  bare: { model: 'sliding', dialect: 'none', retry: 'none' },
  'bare-fixed': { model: 'fixed', dialect: 'none', retry: 'none' },
};

function server(s: Scenario, phaseMs: number): ServerModel {
  if (s.model === 'slots') return slotServer(s.slots ?? 4, s.queue ?? 4, s.latencyMs);
  return rateServer({ ...MODELS[s.model], requests: s.rpm, windowMs: MINUTE, phaseMs });
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
    server: rateServer({
      model: 'bucket',
      requests: Number.POSITIVE_INFINITY,
      tokens: s.tpm,
      windowMs: MINUTE,
      dialect: 'openai',
      retry: 'none',
    }),
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
