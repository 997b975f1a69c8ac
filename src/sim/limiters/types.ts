/**
 * What every rate limiter model shares: the limits it meters, what it answers for a request, and
 * the state it reports in headers. No clock and no I/O in any limiter: the time is passed in.
 */

export type LimitKind = 'requests' | 'tokens';

/** One metered quantity: at most `limit` units per `windowMs`; `limit` `Infinity` = unlimited. */
export interface Meter {
  readonly limit: number;
  readonly windowMs: number;
}

/** The limits of one group, as the key spec that is asking configures them now. */
export interface RateLimits {
  readonly requests: Meter;
  readonly tokens: Meter;
  /** `bucket` only: also enforce each limit over this shorter period. */
  readonly enforceMs?: number | undefined;
}

/** One meter's state for headers: what remains and when the limiter's `reset` comes. */
export interface MeterView {
  readonly limit: number;
  readonly windowMs: number;
  /** Whole units left, never negative. */
  readonly remaining: number;
  /** Milliseconds until the limiter's reset: until full (bucket), until the oldest counted request leaves (sliding), until the window ends (fixed). */
  readonly resetMs: number;
}

/** The state of both meters; `null` for a meter without a limit. */
export interface LimiterView {
  readonly requests: MeterView | null;
  readonly tokens: MeterView | null;
}

/** A refused request: which meter refused it, and when it would fit. */
export interface RateRefusal {
  readonly allowed: false;
  readonly kind: LimitKind;
  /** When the request would fit; `Infinity` when it never can (`tooLarge`). */
  readonly retryAfterMs: number;
  readonly limit: number;
  readonly used: number;
  readonly requested: number;
  /** The request needs more than the meter can ever hold. */
  readonly tooLarge: boolean;
  /** The period the refusing limit is enforced over (an `enforceMs` shorter than the window). */
  readonly windowMs: number;
}

/** An admitted request's charge, for settling its tokens once the answer's usage is known. */
export interface Ticket {
  /** Tokens charged at admission. */
  readonly tokens: number;
  readonly at: number;
  /** Limiter-specific: which log entry or window the charge went to. */
  readonly ref?: unknown;
}

export type RateAdmission = { readonly allowed: true; readonly ticket: Ticket } | RateRefusal;

/** A rate limiter model's state for one group. */
export interface RateLimiter {
  readonly kind: 'bucket' | 'sliding' | 'fixed';
  /** Admits one request of `tokens` tokens (charging both meters) or says which meter refused it. */
  admit(limits: RateLimits, tokens: number, now: number): RateAdmission;
  /** Settles an admitted request to `actualTokens`: the difference is refunded (or charged). */
  settle(limits: RateLimits, ticket: Ticket, actualTokens: number, now: number): void;
  view(limits: RateLimits, now: number): LimiterView;
}

export function isLimited(meter: Meter): boolean {
  return Number.isFinite(meter.limit);
}
