/**
 * Continuous token buckets, as the real API meters requests and tokens: a bucket holds up to
 * `capacity` units and refills at `capacity / windowMs` per millisecond. No clock and no I/O here:
 * the time is always passed in.
 */

export interface Bucket {
  /** Units available at `at`; `Infinity` until first metered (a full bucket). */
  level: number;
  /** Time (ms) `level` was computed at. */
  at: number;
}

export interface Limit {
  /** Units per window; `Infinity` means unlimited. */
  capacity: number;
  windowMs: number;
}

/** The two buckets a group of keys shares. */
export interface GroupBuckets {
  requests: Bucket;
  tokens: Bucket;
}

export interface GroupLimits {
  requests: Limit;
  tokens: Limit;
}

export type Admission =
  | { allowed: true }
  | {
      allowed: false;
      kind: 'requests' | 'tokens';
      /** When the request would fit; `Infinity` when it never can (`tooLarge`). */
      retryAfterMs: number;
      limit: number;
      used: number;
      requested: number;
      /** The request needs more tokens than the bucket can ever hold. */
      tooLarge: boolean;
    };

export function isLimited(limit: Limit): boolean {
  return Number.isFinite(limit.capacity);
}

/** A full bucket. Its level starts at `Infinity`, which the first limited refill caps at capacity. */
export function fullBucket(now: number): Bucket {
  return { level: Number.POSITIVE_INFINITY, at: now };
}

export function createGroupBuckets(now: number): GroupBuckets {
  return { requests: fullBucket(now), tokens: fullBucket(now) };
}

/** Brings `bucket` up to date at `now` (refill, capped at capacity) and returns its level. */
export function refill(bucket: Bucket, limit: Limit, now: number): number {
  if (!isLimited(limit)) return bucket.level;
  const elapsed = Math.max(0, now - bucket.at);
  bucket.level = Math.min(limit.capacity, bucket.level + (elapsed * limit.capacity) / limit.windowMs);
  bucket.at = Math.max(bucket.at, now);
  return bucket.level;
}

/** Milliseconds until a bucket at `level` holds `amount` units (0 if it already does). */
export function msUntilAvailable(level: number, amount: number, limit: Limit): number {
  if (!isLimited(limit) || level >= amount) return 0;
  if (amount > limit.capacity) return Number.POSITIVE_INFINITY;
  return ((amount - level) * limit.windowMs) / limit.capacity;
}

/** Milliseconds until a bucket at `level` is full again. */
export function msUntilFull(level: number, limit: Limit): number {
  return msUntilAvailable(level, limit.capacity, limit);
}

/** The refusal of `requested` units by one bucket at `level`, or undefined when they fit. */
function refusal(
  kind: 'requests' | 'tokens',
  level: number,
  requested: number,
  limit: Limit,
): Admission | undefined {
  const retryAfterMs = msUntilAvailable(level, requested, limit);
  if (retryAfterMs <= 0) return undefined;
  const { capacity } = limit;
  return {
    allowed: false,
    kind,
    retryAfterMs,
    limit: capacity,
    used: Math.ceil(capacity - level),
    requested,
    tooLarge: requested > capacity,
  };
}

/**
 * Admits a request costing one request and `tokens` tokens, taking them from the buckets when it
 * fits; otherwise says which limit refused it and when the request would fit.
 */
export function admit(buckets: GroupBuckets, limits: GroupLimits, tokens: number, now: number): Admission {
  const requestLevel = refill(buckets.requests, limits.requests, now);
  const tokenLevel = refill(buckets.tokens, limits.tokens, now);
  const refused =
    refusal('requests', requestLevel, 1, limits.requests) ??
    refusal('tokens', tokenLevel, tokens, limits.tokens);
  if (refused) return refused;
  if (isLimited(limits.requests)) buckets.requests.level -= 1;
  if (isLimited(limits.tokens)) buckets.tokens.level -= tokens;
  return { allowed: true };
}

/**
 * The `x-ratelimit-*` headers for the buckets' state at `now`; a kind without a configured limit
 * gets no headers at all.
 */
export function rateLimitHeaders(
  buckets: GroupBuckets,
  limits: GroupLimits,
  now: number,
): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const kind of ['requests', 'tokens'] as const) {
    const limit = limits[kind];
    if (!isLimited(limit)) continue;
    const level = refill(buckets[kind], limit, now);
    headers[`x-ratelimit-limit-${kind}`] = String(limit.capacity);
    headers[`x-ratelimit-remaining-${kind}`] = String(Math.max(0, Math.floor(level)));
    headers[`x-ratelimit-reset-${kind}`] = formatResetDuration(msUntilFull(level, limit));
  }
  return headers;
}

/**
 * Formats a duration the way the real API's `x-ratelimit-reset-*` headers do (Go's
 * `time.Duration` notation, millisecond precision, rounded up): `20ms`, `1s`, `1.5s`, `6m0s`,
 * `2m30.123s`, `1h0m0s`. Zero, negative or non-finite durations give `0s`.
 */
export function formatResetDuration(ms: number): string {
  if (!(ms > 0) || !Number.isFinite(ms)) return '0s';
  const total = Math.ceil(ms);
  if (total < 1000) return `${total}ms`;
  const hours = Math.floor(total / 3_600_000);
  const minutes = Math.floor((total % 3_600_000) / 60_000);
  const secondsMs = total % 60_000;
  const whole = Math.floor(secondsMs / 1000);
  const fraction = secondsMs % 1000;
  const seconds =
    fraction === 0 ? `${whole}s` : `${whole}.${String(fraction).padStart(3, '0').replace(/0+$/, '')}s`;
  if (hours > 0) return `${hours}h${minutes}m${seconds}`;
  if (minutes > 0) return `${minutes}m${seconds}`;
  return seconds;
}
