/**
 * The simulator's limiter models (`src/sim/limiters`) as the servers of the fake-clock pacing
 * harnesses: a rate limiter decides at a request's arrival, and its answer carries the headers of
 * a dialect and the `retry-after` of a form, written by the simulator's own `src/sim/dialects`. The
 * harnesses keep no limiter model of their own but GCRA (`space/servers.ts`), which the simulator
 * lacks. Pure: the time is passed in.
 */
import { limitHeaders, retryAfter } from '../../../src/sim/dialects.js';
import type { ResolvedHeaders } from '../../../src/sim/limiter-options.js';
import { BucketLimiter } from '../../../src/sim/limiters/bucket.js';
import { FixedLimiter } from '../../../src/sim/limiters/fixed.js';
import { SlidingLimiter } from '../../../src/sim/limiters/sliding.js';
import { SlotsLimiter } from '../../../src/sim/limiters/slots.js';
import type { LimiterView, RateLimiter, RateLimits } from '../../../src/sim/limiters/types.js';
import type { SimRetryAfter } from '../../../src/sim/types.js';

export type Headers = Record<string, string>;
export type HeaderDialect = 'openai' | 'ietf' | 'anthropic' | 'none';
/** What a 429 carries: `retry-after-ms` (with `retry-after`), `retry-after` in seconds or as an HTTP date, or nothing. */
export type RetryForm = 'none' | 'ms' | 's' | 'date';

export interface Verdict {
  status: number;
  headers: Headers;
  /** The limiter refused it (the figures count it as refused; the pacer is not told). */
  refused?: true;
}

/** A rate limiter's answer; an admitted request's token charge is settled to its usage by `settle`. */
export interface Admission extends Verdict {
  settle?: (t: number, used: number) => void;
}

export interface RateServerSpec {
  model: 'bucket' | 'fixed' | 'sliding';
  /** Requests per window; `Infinity`: not limited. */
  requests: number;
  /** Tokens per window (counted at admission, settled to usage). @default Infinity */
  tokens?: number;
  windowMs: number;
  dialect: HeaderDialect;
  retry: RetryForm;
  /** `fixed`: where the windows' edges fall (a phase of the server's own). @default 0 */
  phaseMs?: number;
}

export interface RateServer {
  kind: 'rate';
  /** Admits a request counted at `tokens` when it arrives at `t`, or refuses it (429). */
  admit(t: number, tokens: number): Admission;
  /** Multiplies the request limit by `factor`, rounded, at least 1: a limit changed mid-run. */
  scale(factor: number): void;
}

const RETRY_FORMS: Record<RetryForm, SimRetryAfter> = { none: 'none', ms: 'ms', s: 'seconds', date: 'date' };

/** The simulator's header settings for a dialect and a `retry-after` form. */
export function headerSettings(dialect: HeaderDialect, retry: RetryForm): ResolvedHeaders {
  return {
    dialect,
    retryAfter: RETRY_FORMS[retry],
    bare429: false,
    unknownValues: { requests: false, tokens: false },
  };
}

/** A 429's headers: the limiter's state in the dialect, and the wait in the `retry-after` form. */
export function refusalHeaders(
  settings: ResolvedHeaders,
  view: LimiterView,
  waitMs: number,
  t: number,
): Headers {
  return { ...limitHeaders(settings, view, t), ...retryAfter(settings.retryAfter, waitMs, t) };
}

function modelOf(spec: RateServerSpec): RateLimiter {
  switch (spec.model) {
    case 'bucket':
      return new BucketLimiter(0);
    case 'fixed':
      return new FixedLimiter(spec.phaseMs ?? 0);
    case 'sliding':
      return new SlidingLimiter();
  }
}

/** One of the simulator's rate limiters answering as a server. */
export function rateServer(spec: RateServerSpec): RateServer {
  const model = modelOf(spec);
  const settings = headerSettings(spec.dialect, spec.retry);
  let limits: RateLimits = {
    requests: { limit: spec.requests, windowMs: spec.windowMs },
    tokens: { limit: spec.tokens ?? Number.POSITIVE_INFINITY, windowMs: spec.windowMs },
  };
  const metersTokens = Number.isFinite(limits.tokens.limit);
  return {
    kind: 'rate',
    admit(t, tokens) {
      const admission = model.admit(limits, tokens, t);
      const view = model.view(limits, t);
      if (!admission.allowed) {
        return {
          status: 429,
          headers: refusalHeaders(settings, view, admission.retryAfterMs, t),
          refused: true,
        };
      }
      const headers = limitHeaders(settings, view, t);
      if (!metersTokens) return { status: 200, headers };
      const charged = limits;
      return {
        status: 200,
        headers,
        settle: (at, used) => model.settle(charged, admission.ticket, used, at),
      };
    },
    scale(factor) {
      const requests = Math.max(1, Math.round(limits.requests.limit * factor));
      limits = { ...limits, requests: { ...limits.requests, limit: requests } };
    },
  };
}

/**
 * A self-hosted server (the simulator's `slots` model): `slots` served at once for `serviceMs`
 * each, a FIFO of `queue`, 503 beyond. `arrive` calls `done(t, verdict)` when the answer leaves.
 */
export interface SlotServer {
  kind: 'slots';
  /** Requests per ms the server completes when busy. */
  peak: number;
  arrive(
    t: number,
    done: (t: number, verdict: Verdict) => void,
    schedule: (t: number, fn: () => void) => void,
  ): void;
}

export function slotServer(slots: number, queue: number, serviceMs: number): SlotServer {
  const model = new SlotsLimiter({ slots, queue }, 0);
  return {
    kind: 'slots',
    peak: slots / serviceMs,
    arrive(t, done, schedule) {
      const admission = model.admit(serviceMs, t);
      if (!admission.allowed) {
        done(t, { status: 503, headers: {}, refused: true });
        return;
      }
      const end = t + admission.delayMs;
      schedule(end, () => done(end, { status: 200, headers: {} }));
    },
  };
}

export type ServerModel = RateServer | SlotServer;
