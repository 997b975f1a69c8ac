/**
 * Pure server-side limiter models for the pacing simulation: what real endpoints do, each deciding
 * at a request's arrival whether it is accepted and which headers its answer carries.
 */

export type Headers = Record<string, string>;

export interface Verdict {
  status: number;
  headers: Headers;
}

/** A limiter deciding at arrival; the answer comes back after the request's service time. */
export interface RateLimiter {
  kind: 'rate';
  /** `tokens`: what the request counts at admission (prompt + max_tokens). */
  admit(t: number, tokens: number): Verdict;
  /** An accepted request finished having used `used` of the `tokens` it was counted at. */
  complete?(t: number, tokens: number, used: number): void;
}

/**
 * A slot-bound server (vLLM, Ollama): `slots` requests in service, a queue of `queue`, 503 beyond.
 * `arrive` calls `done(t, verdict)` when the request's answer leaves the server.
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

export type ServerModel = RateLimiter | SlotServer;

export type Dialect = 'openai' | 'ietf' | 'anthropic' | 'none';

/** A Go-style duration as OpenAI writes it: `6m0s`, `1.5s`, `20ms`. */
export function goDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = (ms - minutes * 60_000) / 1000;
  const s = `${Number(seconds.toFixed(3))}s`;
  return minutes > 0 ? `${minutes}m${s}` : s;
}

function headersFor(
  dialect: Dialect,
  limit: number,
  remaining: number,
  resetMs: number,
  windowMs: number,
  t: number,
): Headers {
  const left = Math.max(0, Math.floor(remaining));
  switch (dialect) {
    case 'openai':
      return {
        'x-ratelimit-limit-requests': String(limit),
        'x-ratelimit-remaining-requests': String(left),
        'x-ratelimit-reset-requests': goDuration(resetMs),
      };
    case 'ietf':
      return {
        'ratelimit-policy': `"default";q=${limit};w=${windowMs / 1000}`,
        ratelimit: `"default";r=${left};t=${Math.ceil(resetMs / 1000)}`,
      };
    case 'anthropic':
      return {
        'anthropic-ratelimit-requests-limit': String(limit),
        'anthropic-ratelimit-requests-remaining': String(left),
        'anthropic-ratelimit-requests-reset': new Date(Math.ceil((t + resetMs) / 1000) * 1000)
          .toISOString()
          .replace('.000', ''),
      };
    case 'none':
      return {};
  }
}

export interface LimiterSpec {
  /** Requests allowed per window. */
  limit: number;
  windowMs: number;
  dialect: Dialect;
  /** On a 429: `ms` adds `retry-after-ms` (the exact wait), `s` adds `retry-after` in whole seconds. */
  retryAfter?: 'ms' | 's' | 'none';
}

function refusal(spec: LimiterSpec, headers: Headers, waitMs: number): Verdict {
  const out = { ...headers };
  if (spec.retryAfter === 'ms') out['retry-after-ms'] = String(Math.ceil(waitMs));
  if (spec.retryAfter === 's') out['retry-after'] = String(Math.ceil(waitMs / 1000));
  return { status: 429, headers: out };
}

/** OpenAI's continuous bucket: `limit` deep, refilled at limit per window; reset = until full. */
export function tokenBucket(spec: LimiterSpec): RateLimiter {
  let level = spec.limit;
  let at = 0;
  const rate = spec.limit / spec.windowMs;
  return {
    kind: 'rate',
    admit(t) {
      level = Math.min(spec.limit, level + (t - at) * rate);
      at = t;
      const ok = level >= 1;
      if (ok) level -= 1;
      const headers = headersFor(
        spec.dialect,
        spec.limit,
        level,
        (spec.limit - level) / rate,
        spec.windowMs,
        t,
      );
      return ok ? { status: 200, headers } : refusal(spec, headers, (1 - level) / rate);
    },
  };
}

/** Fixed windows (nginx, Kong, express-rate-limit): `limit` per window; reset = until it ends. */
export function fixedWindow(spec: LimiterSpec, phaseMs = 0): RateLimiter {
  let windowStart = Number.NEGATIVE_INFINITY;
  let count = 0;
  return {
    kind: 'rate',
    admit(t) {
      const start = Math.floor((t - phaseMs) / spec.windowMs) * spec.windowMs + phaseMs;
      if (start !== windowStart) {
        windowStart = start;
        count = 0;
      }
      const ok = count < spec.limit;
      if (ok) count += 1;
      const reset = windowStart + spec.windowMs - t;
      const headers = headersFor(spec.dialect, spec.limit, spec.limit - count, reset, spec.windowMs, t);
      return ok ? { status: 200, headers } : refusal(spec, headers, reset);
    },
  };
}

/** A sliding window log: `limit` accepted in any window; reset = until the oldest counted leaves. */
export function slidingWindow(spec: LimiterSpec): RateLimiter {
  const log: number[] = [];
  let head = 0;
  return {
    kind: 'rate',
    admit(t) {
      while (head < log.length && log[head]! <= t - spec.windowMs) head += 1;
      if (head > 4096) {
        log.splice(0, head);
        head = 0;
      }
      const ok = log.length - head < spec.limit;
      if (ok) log.push(t);
      const count = log.length - head;
      const reset = count > 0 ? log[head]! + spec.windowMs - t : 0;
      const headers = headersFor(spec.dialect, spec.limit, spec.limit - count, reset, spec.windowMs, t);
      return ok ? { status: 200, headers } : refusal(spec, headers, reset);
    },
  };
}

/** `slots` in service for `serviceMs` each, a FIFO queue of `queue`, 503 when both are full. */
export function slotServer(slots: number, queue: number, serviceMs: number): SlotServer {
  let busy = 0;
  const waiting: Array<(t: number) => void> = [];
  return {
    kind: 'slots',
    peak: slots / serviceMs,
    arrive(t, done, schedule) {
      const serve = (start: number) => {
        busy += 1;
        schedule(start + serviceMs, () => {
          busy -= 1;
          done(start + serviceMs, { status: 200, headers: {} });
          const next = waiting.shift();
          if (next) next(start + serviceMs);
        });
      };
      if (busy < slots) serve(t);
      else if (waiting.length < queue) waiting.push(serve);
      else done(t, { status: 503, headers: {} });
    },
  };
}

/**
 * A tokens-per-minute bucket as OpenAI runs it: a request counts prompt + max_tokens at admission
 * (refused when more than what remains), settled to its real usage when it completes.
 */
export function tpmBucket(tpm: number): RateLimiter {
  let level = tpm;
  let at = 0;
  const rate = tpm / 60_000;
  const refill = (t: number) => {
    level = Math.min(tpm, level + (t - at) * rate);
    at = Math.max(at, t);
  };
  const headers = (): Headers => ({
    'x-ratelimit-limit-tokens': String(tpm),
    'x-ratelimit-remaining-tokens': String(Math.max(0, Math.floor(level))),
    'x-ratelimit-reset-tokens': goDuration((tpm - level) / rate),
  });
  return {
    kind: 'rate',
    admit(t, tokens) {
      refill(t);
      if (level < tokens) return { status: 429, headers: headers() };
      level -= tokens;
      return { status: 200, headers: headers() };
    },
    complete(t, tokens, used) {
      refill(t);
      level = Math.min(tpm, level + tokens - used);
    },
  };
}
