/**
 * Server models for the randomised pacing harness (`space.test.ts`): every limiter kind the issue
 * names, each deciding at a request's arrival, with a limit that can be scaled mid-run and stray
 * server errors. Pure: the clock and the random source are passed in.
 */
import { goDuration } from '../limiters.js';

export type Headers = Record<string, string>;
export type HeaderDialect = 'openai' | 'ietf' | 'anthropic' | 'none';
export type RetryForm = 'none' | 'ms' | 's' | 'date';
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

export interface Verdict {
  status: number;
  headers: Headers;
  /** The limiter refused it (the figures count it as refused; the pacer is not told). */
  refused?: true;
}

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

function rateHeaders(
  dialect: HeaderDialect,
  limit: number,
  remaining: number,
  resetMs: number,
  windowMs: number,
  t: number,
): Headers {
  const left = Math.max(0, Math.floor(remaining));
  const whole = Math.max(1, Math.round(limit));
  switch (dialect) {
    case 'openai':
      return {
        'x-ratelimit-limit-requests': String(whole),
        'x-ratelimit-remaining-requests': String(Math.min(whole, left)),
        'x-ratelimit-reset-requests': goDuration(resetMs),
      };
    case 'ietf':
      return {
        'ratelimit-policy': `"default";q=${whole};w=${Math.max(1, Math.round(windowMs / 1000))}`,
        ratelimit: `"default";r=${Math.min(whole, left)};t=${Math.ceil(resetMs / 1000)}`,
      };
    case 'anthropic':
      return {
        'anthropic-ratelimit-requests-limit': String(whole),
        'anthropic-ratelimit-requests-remaining': String(Math.min(whole, left)),
        'anthropic-ratelimit-requests-reset': new Date(Math.ceil((t + resetMs) / 1000) * 1000)
          .toISOString()
          .replace('.000', ''),
      };
    case 'none':
      return {};
  }
}

function refusal(spec: ServerSpec, headers: Headers, waitMs: number, t: number, status = 429): Verdict {
  const out = { ...headers };
  const wait = Math.max(0, waitMs);
  if (spec.retry === 'ms') out['retry-after-ms'] = String(Math.ceil(wait));
  if (spec.retry === 's') out['retry-after'] = String(Math.ceil(wait / 1000));
  if (spec.retry === 'date') out['retry-after'] = new Date(Math.ceil((t + wait) / 1000) * 1000).toUTCString();
  return { status, headers: out, refused: true };
}

/** A served request: its service time, then 200, or a stray 500/503 at the failure share. */
function serve(spec: ServerSpec, t: number, headers: Headers, done: (t: number, v: Verdict) => void): void {
  const end = t + spec.latency();
  const failed = spec.random() < spec.failures;
  const status = failed ? (spec.random() < 0.5 ? 500 : 503) : 200;
  spec.schedule(end, () => done(end, { status, headers: failed ? {} : headers }));
}

/** A limiter that decides at arrival: `admit` returns the headers and, when refused, the wait. */
function deciding(
  spec: ServerSpec,
  admit: (t: number) => { ok: boolean; headers: Headers; waitMs: number },
  rescale: (factor: number) => void,
): Server {
  return {
    arrive(t, done) {
      const verdict = admit(t);
      if (verdict.ok) serve(spec, t, verdict.headers, done);
      else done(t, refusal(spec, verdict.headers, verdict.waitMs, t));
    },
    scale: rescale,
  };
}

function tokenBucket(spec: ServerSpec): Server {
  let limit = spec.limit;
  let level = limit;
  let at = 0;
  return deciding(
    spec,
    (t) => {
      const rate = limit / spec.windowMs;
      level = Math.min(limit, level + (t - at) * rate);
      at = t;
      const ok = level >= 1;
      if (ok) level -= 1;
      const headers = rateHeaders(spec.dialect, limit, level, (limit - level) / rate, spec.windowMs, t);
      return { ok, headers, waitMs: (1 - level) / rate };
    },
    (f) => {
      limit = Math.max(1, Math.round(limit * f));
      level = Math.min(level, limit);
    },
  );
}

function fixedWindow(spec: ServerSpec, phaseMs: number): Server {
  let limit = spec.limit;
  let start = Number.NEGATIVE_INFINITY;
  let count = 0;
  return deciding(
    spec,
    (t) => {
      const now = Math.floor((t - phaseMs) / spec.windowMs) * spec.windowMs + phaseMs;
      if (now !== start) {
        start = now;
        count = 0;
      }
      const ok = count + 1 <= limit;
      if (ok) count += 1;
      const reset = start + spec.windowMs - t;
      return {
        ok,
        headers: rateHeaders(spec.dialect, limit, limit - count, reset, spec.windowMs, t),
        waitMs: reset,
      };
    },
    (f) => {
      limit = Math.max(1, Math.round(limit * f));
    },
  );
}

function slidingWindow(spec: ServerSpec): Server {
  let limit = spec.limit;
  const log: number[] = [];
  let head = 0;
  return deciding(
    spec,
    (t) => {
      while (head < log.length && log[head]! <= t - spec.windowMs) head += 1;
      if (head > 4096) {
        log.splice(0, head);
        head = 0;
      }
      const ok = log.length - head + 1 <= limit;
      if (ok) log.push(t);
      const count = log.length - head;
      const reset = count > 0 ? log[head]! + spec.windowMs - t : 0;
      return {
        ok,
        headers: rateHeaders(spec.dialect, limit, limit - count, reset, spec.windowMs, t),
        waitMs: reset,
      };
    },
    (f) => {
      limit = Math.max(1, Math.round(limit * f));
    },
  );
}

/**
 * GCRA (nginx `limit_req`, redis-cell): one request per `T = window / limit`, `burst` more allowed
 * ahead of the schedule (nginx without `burst`: 0, excess refused). Headers, when a dialect is set,
 * as redis-cell/throttled write them: limit = burst + 1, remaining, reset = until the schedule is
 * back to now.
 */
function gcra(spec: ServerSpec): Server {
  let interval = spec.windowMs / spec.limit;
  let tat = 0;
  return deciding(
    spec,
    (t) => {
      const tolerance = spec.burst * interval;
      const next = Math.max(tat, t);
      const ok = next - t <= tolerance;
      if (ok) tat = next + interval;
      const ahead = Math.max(0, tat - t);
      const remaining = Math.floor((tolerance + interval - ahead) / interval);
      const headers = rateHeaders(spec.dialect, spec.burst + 1, remaining, ahead, spec.windowMs, t);
      return { ok, headers, waitMs: next - t - tolerance };
    },
    (f) => {
      interval /= f;
    },
  );
}

/** Concurrency-only: `slots` requests in service; one more is refused at once (429). */
function concurrency(spec: ServerSpec): Server {
  let running = 0;
  return {
    arrive(t, done) {
      if (running >= spec.slots) {
        done(t, refusal(spec, {}, 0, t));
        return;
      }
      running += 1;
      serve(spec, t, {}, (end, verdict) => {
        running -= 1;
        done(end, verdict);
      });
    },
    scale() {},
  };
}

/**
 * Continuous batching (a self-hosted vLLM): `slots` run at once, each taking `base + k × running`
 * (the batch's size when it starts, times a noise factor); the rest wait in a FIFO of `queue`; a
 * 503 at once when that is full; no headers.
 */
function batching(spec: ServerSpec): Server {
  let running = 0;
  const waiting: Array<(t: number) => void> = [];
  const start = (t: number, done: (t: number, v: Verdict) => void) => {
    running += 1;
    const took = (spec.baseMs + spec.perRunningMs * running) * (0.8 + 0.4 * spec.random());
    const failed = spec.random() < spec.failures;
    const status = failed ? (spec.random() < 0.5 ? 500 : 503) : 200;
    spec.schedule(t + took, () => {
      running -= 1;
      done(t + took, { status, headers: {} });
      const next = waiting.shift();
      if (next) next(t + took);
    });
  };
  return {
    arrive(t, done) {
      if (running < spec.slots) start(t, done);
      else if (waiting.length < spec.queue) waiting.push((at) => start(at, done));
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
      return tokenBucket(spec);
    case 'fixed':
      return fixedWindow(spec, phaseMs);
    case 'sliding':
      return slidingWindow(spec);
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
