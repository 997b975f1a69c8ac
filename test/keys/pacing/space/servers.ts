/**
 * The servers of the randomised pacing harness (`space.test.ts`): every limiter kind the issue
 * names, each deciding at a request's arrival, with a limit that can be scaled mid-run and stray
 * server errors. The window kinds, concurrency and batching are the simulator's own models
 * (`../model-servers.ts`); GCRA, which the simulator lacks, is here. Pure: the clock and the
 * random source are passed in.
 */

import { limitHeaders } from '../../../../src/sim/dialects.js';
import { SlotsLimiter } from '../../../../src/sim/limiters/slots.js';
import {
  type HeaderDialect,
  type Headers,
  headerSettings,
  type RetryForm,
  rateServer,
  refusalHeaders,
  type Verdict,
} from '../model-servers.js';

export type { HeaderDialect, RetryForm, Verdict };
export type Kind =
  | 'bucket'
  | 'fixed'
  | 'sliding'
  | 'leaky'
  | 'leaky-burst'
  | 'gcra'
  | 'concurrency'
  | 'batching'
  | 'unlimited';

/** `done(t, verdict)`: the answer leaves the server at `t`. */
export interface Server {
  arrive(t: number, done: (t: number, verdict: Verdict) => void): void;
  /** Scales the limit (a limit halved or doubled mid-run). */
  scale(factor: number): void;
}

export interface ServerSpec {
  kind: Kind;
  /** Requests per window (window kinds), or the pace's requests per `windowMs` (leaky, gcra). */
  limit: number;
  windowMs: number;
  /** nginx `burst=N nodelay` / GCRA tolerance, requests. */
  burst: number;
  dialect: HeaderDialect;
  retry: RetryForm;
  /** Concurrency-only and batching: slots; batching: queue length, base and per-running latency. */
  slots: number;
  queue: number;
  baseMs: number;
  perRunningMs: number;
  /** Share of admitted requests that fail (500 or 503) after their service time. */
  failures: number;
  /** A served request's service time. */
  latency: () => number;
  random: () => number;
  schedule: (t: number, fn: () => void) => void;
}

/** The answer of an admitted request at `end`: 200, or a stray 500/503 at the failure share. */
function answerAt(
  spec: ServerSpec,
  end: number,
  headers: Headers,
  done: (t: number, v: Verdict) => void,
): void {
  const failed = spec.random() < spec.failures;
  const status = failed ? (spec.random() < 0.5 ? 500 : 503) : 200;
  spec.schedule(end, () => done(end, { status, headers: failed ? {} : headers }));
}

/** A served request: its service time, then its answer. */
function serve(spec: ServerSpec, t: number, headers: Headers, done: (t: number, v: Verdict) => void): void {
  answerAt(spec, t + spec.latency(), headers, done);
}

/** The simulator's bucket, fixed or sliding window: refused at once, or served. */
function windowed(spec: ServerSpec, model: 'bucket' | 'fixed' | 'sliding', phaseMs: number): Server {
  const server = rateServer({
    model,
    requests: spec.limit,
    windowMs: spec.windowMs,
    dialect: spec.dialect,
    retry: spec.retry,
    phaseMs,
  });
  return {
    arrive(t, done) {
      const verdict = server.admit(t, 1);
      if (verdict.refused) done(t, verdict);
      else serve(spec, t, verdict.headers, done);
    },
    scale: (factor) => server.scale(factor),
  };
}

/**
 * GCRA (nginx `limit_req`, redis-cell): one request per `T = window / limit`, `burst` more allowed
 * ahead of the schedule (nginx without `burst`: 0, excess refused). Headers, when a dialect is set,
 * as redis-cell/throttled write them: limit = burst + 1, remaining, reset = until the schedule is
 * back to now.
 */
function gcra(spec: ServerSpec): Server {
  const settings = headerSettings(spec.dialect, spec.retry);
  let interval = spec.windowMs / spec.limit;
  let tat = 0;
  return {
    arrive(t, done) {
      const tolerance = spec.burst * interval;
      const next = Math.max(tat, t);
      const ok = next - t <= tolerance;
      if (ok) tat = next + interval;
      const ahead = Math.max(0, tat - t);
      const remaining = Math.max(0, Math.floor((tolerance + interval - ahead) / interval));
      const meter = { limit: spec.burst + 1, windowMs: spec.windowMs, remaining, resetMs: ahead };
      const view = { requests: meter, tokens: null };
      if (ok) serve(spec, t, limitHeaders(settings, view, t), done);
      else
        done(t, {
          status: 429,
          headers: refusalHeaders(settings, view, next - t - tolerance, t),
          refused: true,
        });
    },
    scale(f) {
      interval /= f;
    },
  };
}

/** The simulator's `slots` model with no queue: `slots` requests in service; one more is refused at once (429). */
function concurrency(spec: ServerSpec): Server {
  const settings = headerSettings('none', spec.retry);
  const slots = new SlotsLimiter({ slots: spec.slots, queue: 0 }, 0);
  return {
    arrive(t, done) {
      const admission = slots.admit(spec.latency(), t);
      if (admission.allowed) answerAt(spec, t + admission.delayMs, {}, done);
      else done(t, { status: 429, headers: refusalHeaders(settings, NO_METERS, 0, t), refused: true });
    },
    scale() {},
  };
}

const NO_METERS = { requests: null, tokens: null } as const;

/**
 * The simulator's `batching` model (a self-hosted vLLM): `slots` run at once, each taking
 * `base × noise + k × running` (the batch's size when it starts); the rest wait in a FIFO of
 * `queue`; a 503 at once when that is full; no headers.
 */
function batching(spec: ServerSpec): Server {
  const slots = new SlotsLimiter(
    { slots: spec.slots, queue: spec.queue, perRunningMs: spec.perRunningMs },
    0,
  );
  return {
    arrive(t, done) {
      const admission = slots.admit(spec.baseMs * (0.8 + 0.4 * spec.random()), t);
      if (admission.allowed) answerAt(spec, t + admission.delayMs, {}, done);
      else done(t, { status: 503, headers: {}, refused: true });
    },
    scale() {},
  };
}

function unlimited(spec: ServerSpec): Server {
  return { arrive: (t, done) => serve(spec, t, {}, done), scale() {} };
}

export function makeServer(spec: ServerSpec, phaseMs: number): Server {
  switch (spec.kind) {
    case 'bucket':
    case 'fixed':
    case 'sliding':
      return windowed(spec, spec.kind, phaseMs);
    case 'leaky':
    case 'leaky-burst':
    case 'gcra':
      return gcra(spec);
    case 'concurrency':
      return concurrency(spec);
    case 'batching':
      return batching(spec);
    case 'unlimited':
      return unlimited(spec);
  }
}
