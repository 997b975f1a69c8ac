/**
 * The `fixed` model: fixed windows aligned to multiples of the window length (nginx, Kong,
 * express-rate-limit); each window counts from zero; `reset` is the time until the window ends.
 * A phase shifts the windows' edges (a server whose windows began at its own start, not at 0).
 */
import {
  isLimited,
  type LimiterView,
  type LimitKind,
  type Meter,
  type MeterView,
  type RateAdmission,
  type RateLimiter,
  type RateLimits,
  type RateRefusal,
  type Ticket,
} from './types.js';

interface Window {
  start: number;
  used: number;
}

/** The start of the window `now` falls in, windows beginning at `phaseMs` plus multiples of their length. */
export function windowStart(windowMs: number, now: number, phaseMs = 0): number {
  return Math.floor((now - phaseMs) / windowMs) * windowMs + phaseMs;
}

export class FixedLimiter implements RateLimiter {
  readonly kind = 'fixed' as const;
  readonly #windows: Record<LimitKind, Window> = {
    requests: { start: Number.NEGATIVE_INFINITY, used: 0 },
    tokens: { start: Number.NEGATIVE_INFINITY, used: 0 },
  };
  readonly #phaseMs: number;

  /** `phaseMs`: where the windows' edges fall (at `phaseMs` plus multiples of the window). */
  constructor(phaseMs = 0) {
    this.#phaseMs = phaseMs;
  }

  admit(limits: RateLimits, tokens: number, now: number): RateAdmission {
    const refused =
      this.#refusal('requests', limits.requests, 1, now) ??
      this.#refusal('tokens', limits.tokens, tokens, now);
    if (refused) return refused;
    if (isLimited(limits.requests)) this.#current('requests', limits.requests, now).used += 1;
    let ref: number | undefined;
    if (isLimited(limits.tokens)) {
      const window = this.#current('tokens', limits.tokens, now);
      window.used += tokens;
      ref = window.start;
    }
    return { allowed: true, ticket: { tokens, at: now, ref } };
  }

  settle(limits: RateLimits, ticket: Ticket, actualTokens: number, now: number): void {
    if (!isLimited(limits.tokens)) return;
    const window = this.#current('tokens', limits.tokens, now);
    // A charge made in a window that has ended is gone with it.
    if (ticket.ref !== window.start) return;
    window.used = Math.max(0, window.used + actualTokens - ticket.tokens);
  }

  view(limits: RateLimits, now: number): LimiterView {
    return {
      requests: this.#view('requests', limits.requests, now),
      tokens: this.#view('tokens', limits.tokens, now),
    };
  }

  #current(kind: LimitKind, meter: Meter, now: number): Window {
    const window = this.#windows[kind];
    const start = windowStart(meter.windowMs, now, this.#phaseMs);
    if (window.start !== start) {
      window.start = start;
      window.used = 0;
    }
    return window;
  }

  #view(kind: LimitKind, meter: Meter, now: number): MeterView | null {
    if (!isLimited(meter)) return null;
    const window = this.#current(kind, meter, now);
    return {
      limit: meter.limit,
      windowMs: meter.windowMs,
      remaining: Math.max(0, Math.floor(meter.limit - window.used)),
      resetMs: window.start + meter.windowMs - now,
    };
  }

  #refusal(kind: LimitKind, meter: Meter, amount: number, now: number): RateRefusal | undefined {
    if (!isLimited(meter)) return undefined;
    const window = this.#current(kind, meter, now);
    if (window.used + amount <= meter.limit) return undefined;
    const tooLarge = amount > meter.limit;
    return {
      allowed: false,
      kind,
      retryAfterMs: tooLarge ? Number.POSITIVE_INFINITY : window.start + meter.windowMs - now,
      limit: meter.limit,
      used: Math.ceil(window.used),
      requested: amount,
      tooLarge,
      windowMs: meter.windowMs,
    };
  }
}
