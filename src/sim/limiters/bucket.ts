/**
 * The `bucket` model: continuous token buckets as OpenAI meters requests and tokens, each refilling
 * at limit / window; `reset` is the time until the bucket is full again. With `enforceMs` the
 * limit is also enforced over that shorter period (OpenAI: "60,000 requests/minute may be enforced
 * as 1,000 requests/second"): a second bucket of limit × enforceMs / window that refills at the
 * same rate caps bursts, while the headers keep reporting the whole window's bucket.
 */
import { type Bucket, fullBucket, type Limit, msUntilAvailable, msUntilFull, refill } from '../rate-limit.js';
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

interface MeterBuckets {
  /** The whole window's bucket (what the headers report). */
  readonly outer: Bucket;
  /** The `enforceMs` bucket. */
  readonly inner: Bucket;
}

function outerLimit(meter: Meter): Limit {
  return { capacity: meter.limit, windowMs: meter.windowMs };
}

/** The shorter period's bucket: the same refill rate, a capacity of limit × enforceMs / window (at least 1). */
export function innerLimit(meter: Meter, enforceMs: number | undefined): Limit | null {
  if (enforceMs === undefined || enforceMs >= meter.windowMs || !isLimited(meter)) return null;
  const capacity = Math.max(1, (meter.limit * enforceMs) / meter.windowMs);
  return { capacity, windowMs: (capacity * meter.windowMs) / meter.limit };
}

/** Refill adds fractions at every call: a level this close to the amount is taken as there. */
const EPSILON = 1e-9;

/** The refusal of `requested` units by a bucket at `level`, or undefined when they fit. */
function refusalOf(
  kind: LimitKind,
  level: number,
  requested: number,
  limit: Limit,
  period: number,
): RateRefusal | undefined {
  const retryAfterMs = level + EPSILON >= requested ? 0 : msUntilAvailable(level, requested, limit);
  if (retryAfterMs <= 0) return undefined;
  const limitShown = Math.round(limit.capacity * 1000) / 1000;
  return {
    allowed: false,
    kind,
    retryAfterMs,
    limit: limitShown,
    used: Math.ceil(limit.capacity - level),
    requested,
    tooLarge: requested > limit.capacity,
    windowMs: period,
  };
}

export class BucketLimiter implements RateLimiter {
  readonly kind = 'bucket' as const;
  readonly #buckets: Record<LimitKind, MeterBuckets>;

  constructor(now: number) {
    this.#buckets = {
      requests: { outer: fullBucket(now), inner: fullBucket(now) },
      tokens: { outer: fullBucket(now), inner: fullBucket(now) },
    };
  }

  admit(limits: RateLimits, tokens: number, now: number): RateAdmission {
    const refused = this.#refusal('requests', limits, 1, now) ?? this.#refusal('tokens', limits, tokens, now);
    if (refused) return refused;
    this.#add('requests', limits, -1);
    this.#add('tokens', limits, -tokens);
    return { allowed: true, ticket: { tokens, at: now } };
  }

  settle(limits: RateLimits, ticket: Ticket, actualTokens: number, now: number): void {
    const meter = limits.tokens;
    if (!isLimited(meter)) return;
    const buckets = this.#buckets.tokens;
    refill(buckets.outer, outerLimit(meter), now);
    const inner = innerLimit(meter, limits.enforceMs);
    if (inner) refill(buckets.inner, inner, now);
    this.#add('tokens', limits, ticket.tokens - actualTokens);
  }

  view(limits: RateLimits, now: number): LimiterView {
    return { requests: this.#view('requests', limits, now), tokens: this.#view('tokens', limits, now) };
  }

  #view(kind: LimitKind, limits: RateLimits, now: number): MeterView | null {
    const meter = limits[kind];
    if (!isLimited(meter)) return null;
    const limit = outerLimit(meter);
    const level = refill(this.#buckets[kind].outer, limit, now);
    return {
      limit: meter.limit,
      windowMs: meter.windowMs,
      remaining: Math.max(0, Math.floor(level)),
      resetMs: msUntilFull(level, limit),
    };
  }

  #refusal(kind: LimitKind, limits: RateLimits, amount: number, now: number): RateRefusal | undefined {
    const meter = limits[kind];
    if (!isLimited(meter)) return undefined;
    const buckets = this.#buckets[kind];
    const outer = outerLimit(meter);
    const refused = refusalOf(kind, refill(buckets.outer, outer, now), amount, outer, meter.windowMs);
    if (refused) return refused;
    const inner = innerLimit(meter, limits.enforceMs);
    if (!inner || limits.enforceMs === undefined) return undefined;
    return refusalOf(kind, refill(buckets.inner, inner, now), amount, inner, limits.enforceMs);
  }

  /** Adds `delta` units to a meter's buckets (negative: takes), capped at their capacities. */
  #add(kind: LimitKind, limits: RateLimits, delta: number): void {
    const meter = limits[kind];
    if (!isLimited(meter)) return;
    const buckets = this.#buckets[kind];
    buckets.outer.level = Math.min(meter.limit, buckets.outer.level + delta);
    const inner = innerLimit(meter, limits.enforceMs);
    if (inner) buckets.inner.level = Math.min(inner.capacity, buckets.inner.level + delta);
  }
}
