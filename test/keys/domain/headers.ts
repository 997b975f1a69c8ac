/**
 * Random answer headers for the conformance traces: every dialect `parseLimits` reads (OpenAI, with
 * tokens and a per-day window; Anthropic, with input tokens; IETF drafts 07 and 08+; the older
 * `RateLimit-*`), or none; and a retry-after in milliseconds, seconds or an HTTP date, or none.
 * Read through the real `parseLimits`, so both stores get what the pool would give them.
 */
import { type NormalizedLimits, parseLimits } from '../../../src/keys/pacing/dialects.js';

export type Rng = () => number;
export const DIALECTS = ['openai', 'anthropic', 'ietf', 'ietf07', 'ratelimit', 'none'] as const;
export type TraceDialect = (typeof DIALECTS)[number];

export const pick = <T>(r: Rng, list: readonly T[]): T => list[Math.floor(r() * list.length)]!;
export const logUniform = (r: Rng, min: number, max: number): number =>
  Math.exp(Math.log(min) + (Math.log(max) - Math.log(min)) * r());

/** What is left of a window of `limit`: often nothing or little (the gate), else anything. */
function remainingOf(r: Rng, limit: number): number {
  const x = r();
  if (x < 0.3) return 0;
  if (x < 0.5) return Math.floor(r() * 3);
  return Math.floor(r() * (limit + 1));
}

/** A reset: under a second (where coarse dialects are no gate), seconds, a minute, or hours. */
function resetOf(r: Rng): number {
  const x = r();
  if (x < 0.3) return Math.floor(r() * 1000);
  if (x < 0.8) return Math.floor(logUniform(r, 1000, 60_000));
  if (x < 0.95) return Math.floor(logUniform(r, 60_000, 3_600_000));
  return Math.floor(logUniform(r, 3_600_000, 86_400_000));
}

const iso = (at: number) => new Date(Math.ceil(at / 1000) * 1000).toISOString().replace('.000', '');

function rateHeaders(r: Rng, dialect: TraceDialect, now: number): Record<string, string> {
  const limit = Math.max(1, Math.floor(logUniform(r, 1, 10_000)));
  const remaining = remainingOf(r, limit);
  const resetMs = resetOf(r);
  const tokenLimit = Math.floor(logUniform(r, 1000, 2_000_000));
  const tokensLeft = remainingOf(r, tokenLimit);
  const seconds = Math.ceil(resetMs / 1000);
  switch (dialect) {
    case 'openai': {
      const h: Record<string, string> = {
        'x-ratelimit-limit-requests': String(limit),
        'x-ratelimit-remaining-requests': String(remaining),
        'x-ratelimit-reset-requests': r() < 0.5 ? `${resetMs}ms` : `${(resetMs / 1000).toFixed(3)}s`,
      };
      if (r() < 0.5) {
        h['x-ratelimit-limit-tokens'] = String(tokenLimit);
        h['x-ratelimit-remaining-tokens'] = String(tokensLeft);
        h['x-ratelimit-reset-tokens'] = `${resetOf(r)}ms`;
      }
      return h;
    }
    case 'anthropic': {
      const h: Record<string, string> = {
        'anthropic-ratelimit-requests-limit': String(limit),
        'anthropic-ratelimit-requests-remaining': String(remaining),
        'anthropic-ratelimit-requests-reset': iso(now + resetMs),
      };
      const dim = r() < 0.5 ? 'tokens' : 'input-tokens';
      if (r() < 0.6) {
        h[`anthropic-ratelimit-${dim}-limit`] = String(tokenLimit);
        h[`anthropic-ratelimit-${dim}-remaining`] = String(tokensLeft);
        h[`anthropic-ratelimit-${dim}-reset`] = iso(now + resetOf(r));
      }
      return h;
    }
    case 'ietf':
      return {
        'ratelimit-policy': `"default";q=${limit};w=${Math.max(1, Math.floor(logUniform(r, 1, 86_400)))}`,
        ratelimit: `"default";r=${remaining};t=${seconds}`,
      };
    case 'ietf07':
      return {
        ratelimit: `limit=${limit}, remaining=${remaining}, reset=${seconds}`,
        'ratelimit-policy': `${limit};w=${Math.max(1, Math.floor(logUniform(r, 1, 3600)))}`,
      };
    case 'ratelimit':
      return {
        'ratelimit-limit': String(limit),
        'ratelimit-remaining': String(remaining),
        // Delta seconds, or a Unix time.
        'ratelimit-reset': r() < 0.7 ? String(seconds) : String(Math.ceil((now + resetMs) / 1000)),
      };
    case 'none':
      return {};
  }
}

function retryHeaders(r: Rng, now: number): Record<string, string> {
  const wait = Math.floor(logUniform(r, 1, 120_000));
  const x = r();
  if (x < 0.4) return {};
  if (x < 0.6) return { 'retry-after-ms': String(wait) };
  if (x < 0.8) return { 'retry-after': String(Math.ceil(wait / 1000)) };
  return { 'retry-after': new Date(Math.ceil((now + wait) / 1000) * 1000).toUTCString() };
}

/** The headers of one answer with `status`, as the pool would read them at `now`. */
export function drawHeaders(
  r: Rng,
  dialect: TraceDialect,
  status: number,
  now: number,
): NormalizedLimits | undefined {
  const raw = { ...rateHeaders(r, dialect, now), ...(status >= 400 ? retryHeaders(r, now) : {}) };
  return parseLimits(raw, now);
}
