/**
 * One rate budget (a group of keys, by default a single key): a local token-bucket estimate of what
 * the provider will accept, seeded from configured `rpm`/`tpm` and learned from `x-ratelimit-*`
 * headers. Pure state with `now` passed in, so it can be tested without clocks.
 */
import type { RateLimitInfo } from './headers.js';

interface Dimension {
  /** Bucket size (requests or tokens); undefined = no known limit. */
  capacity?: number;
  /** Refill per millisecond. */
  rate?: number;
  available: number;
}

/** How many requests may be in flight on a budget before its first answer says what the limits are. */
export const PROBE_IN_FLIGHT = 2;
const EMA = 0.3;

export class Budget {
  readonly requests: Dimension = { available: 0 };
  readonly tokens: Dimension = { available: 0 };
  /** Whether any answer has come back yet (until then only PROBE_IN_FLIGHT requests go out). */
  answered = false;
  /** Whether limits are known (configured or learned). */
  limited = false;
  /** No request before this time (a 429's retry-after). */
  blockedUntil = 0;
  inFlight = 0;
  /** Sequence of the last request sent; answers compare against it to know what was in flight after them. */
  sent = 0;
  private updatedAt: number;

  constructor(now: number, limits: { rpm?: number | undefined; tpm?: number | undefined } = {}) {
    this.updatedAt = now;
    if (limits.rpm) this.configure(this.requests, limits.rpm);
    if (limits.tpm) this.configure(this.tokens, limits.tpm);
  }

  private configure(dim: Dimension, perMinute: number): void {
    dim.capacity = perMinute;
    dim.rate = perMinute / 60_000;
    dim.available = perMinute;
    this.limited = true;
    this.answered = true;
  }

  private refill(now: number): void {
    const elapsed = now - this.updatedAt;
    if (elapsed <= 0) return;
    this.updatedAt = now;
    for (const dim of [this.requests, this.tokens]) {
      if (dim.capacity !== undefined && dim.rate !== undefined) {
        dim.available = Math.min(dim.capacity, dim.available + elapsed * dim.rate);
      }
    }
  }

  /** The earliest time a request of `tokens` estimated tokens may be sent (<= now: at once). */
  readyAt(now: number, tokens: number): number {
    this.refill(now);
    if (!this.answered) return this.inFlight < PROBE_IN_FLIGHT ? now : Number.POSITIVE_INFINITY;
    let at = Math.max(now, this.blockedUntil);
    at = Math.max(at, waitFor(this.requests, 1, now));
    at = Math.max(at, waitFor(this.tokens, Math.min(tokens, this.tokens.capacity ?? tokens), now));
    return at;
  }

  /** How much headroom is left, 0..1 (1 when no limit is known); used to spread load. */
  headroom(now: number): number {
    this.refill(now);
    const { capacity, available } = this.requests;
    if (capacity === undefined) return 1 / (1 + this.inFlight);
    return Math.max(0, available) / capacity;
  }

  /** A request is being sent now; returns its sequence number. */
  take(now: number, tokens: number): number {
    this.refill(now);
    if (this.requests.capacity !== undefined) this.requests.available -= 1;
    if (this.tokens.capacity !== undefined) this.tokens.available -= tokens;
    this.inFlight += 1;
    this.sent += 1;
    return this.sent;
  }

  /** The request with sequence `seq` was answered (any status) with these headers. */
  settle(now: number, seq: number, info: RateLimitInfo | undefined): void {
    this.refill(now);
    this.inFlight = Math.max(0, this.inFlight - 1);
    this.answered = true;
    if (!info) return;
    const sentAfter = Math.min(this.inFlight, this.sent - seq);
    learn(this.requests, info.limitRequests, info.remainingRequests, info.resetRequestsMs, sentAfter);
    learn(this.tokens, info.limitTokens, info.remainingTokens, info.resetTokensMs, 0);
    if (this.requests.capacity !== undefined || this.tokens.capacity !== undefined) this.limited = true;
  }

  /** A 429 rate-limit answer: nothing more until `retryAfterMs` from now. */
  rateLimited(now: number, retryAfterMs: number): void {
    this.refill(now);
    this.blockedUntil = Math.max(this.blockedUntil, now + retryAfterMs);
    if (this.requests.capacity !== undefined) this.requests.available = Math.min(this.requests.available, 0);
  }

  /** A request leased but never sent (aborted before the call). */
  cancel(): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
  }
}

function waitFor(dim: Dimension, need: number, now: number): number {
  if (dim.capacity === undefined || dim.available >= need) return now;
  if (!dim.rate) return now + 1000;
  return now + (need - dim.available) / dim.rate;
}

/**
 * Learns capacity and refill rate from one answer's headers. The refill rate follows from how much
 * is used and how long until full: (limit - remaining) / reset.
 */
function learn(
  dim: Dimension,
  limit: number | undefined,
  remaining: number | undefined,
  resetMs: number | undefined,
  sentAfter: number,
): void {
  if (limit === undefined || limit <= 0) return;
  const first = dim.capacity === undefined;
  dim.capacity = limit;
  if (remaining !== undefined && resetMs !== undefined && resetMs > 0 && limit - remaining >= 1) {
    const sample = (limit - remaining) / resetMs;
    dim.rate = dim.rate === undefined ? sample : dim.rate + EMA * (sample - dim.rate);
  } else if (dim.rate === undefined) {
    dim.rate = limit / 60_000;
  }
  if (remaining === undefined) return;
  if (first) dim.available = Math.min(limit, remaining - sentAfter);
  // Requests sent after this one are already deducted locally but may or may not be counted in
  // `remaining`, so the local estimate stays at or below it; more than it means another client.
  else if (dim.available > remaining) dim.available = remaining;
}
