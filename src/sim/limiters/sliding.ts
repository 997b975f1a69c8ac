/**
 * The `sliding` model: a sliding-window log. At most `limit` units are counted in any window of
 * `windowMs` (a request at `t` counts until `t + windowMs`); `reset` is the time until the oldest
 * counted request leaves the window.
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

interface Entry {
  readonly at: number;
  amount: number;
  /** Left the window (pruned): settling it changes nothing any more. */
  gone: boolean;
}

/** The entries of one meter, oldest first, with their sum. */
export class WindowLog {
  #entries: Entry[] = [];
  #head = 0;
  #sum = 0;

  /** Drops the entries that left the window at `now`; returns the units still counted. */
  prune(windowMs: number, now: number): number {
    const entries = this.#entries;
    while (this.#head < entries.length) {
      const entry = entries[this.#head] as Entry;
      if (entry.at + windowMs > now) break;
      entry.gone = true;
      this.#sum -= entry.amount;
      this.#head += 1;
    }
    if (this.#head > 1024 && this.#head * 2 > entries.length) {
      this.#entries = entries.slice(this.#head);
      this.#head = 0;
    }
    if (this.#head === this.#entries.length) this.#sum = 0;
    return this.#sum;
  }

  add(amount: number, now: number): Entry {
    const entry: Entry = { at: now, amount, gone: false };
    this.#entries.push(entry);
    this.#sum += amount;
    return entry;
  }

  /** Changes a counted entry's amount (settling). */
  adjust(entry: Entry, amount: number): void {
    if (entry.gone) return;
    this.#sum += amount - entry.amount;
    entry.amount = amount;
  }

  /** The oldest counted entry's time (call `prune` first). */
  oldest(): number | undefined {
    return this.#entries[this.#head]?.at;
  }

  /** Milliseconds until at most `room` units are counted (call `prune` first). */
  msUntilAtMost(room: number, windowMs: number, now: number): number {
    let counted = this.#sum;
    for (let i = this.#head; i < this.#entries.length && counted > room; i += 1) {
      const entry = this.#entries[i] as Entry;
      counted -= entry.amount;
      if (counted <= room) return entry.at + windowMs - now;
    }
    return 0;
  }
}

export class SlidingLimiter implements RateLimiter {
  readonly kind = 'sliding' as const;
  readonly #logs: Record<LimitKind, WindowLog> = { requests: new WindowLog(), tokens: new WindowLog() };

  admit(limits: RateLimits, tokens: number, now: number): RateAdmission {
    const refused =
      this.#refusal('requests', limits.requests, 1, now) ??
      this.#refusal('tokens', limits.tokens, tokens, now);
    if (refused) return refused;
    if (isLimited(limits.requests)) this.#logs.requests.add(1, now);
    const entry = isLimited(limits.tokens) ? this.#logs.tokens.add(tokens, now) : undefined;
    return { allowed: true, ticket: { tokens, at: now, ref: entry } };
  }

  settle(limits: RateLimits, ticket: Ticket, actualTokens: number, now: number): void {
    if (!isLimited(limits.tokens) || ticket.ref === undefined) return;
    this.#logs.tokens.prune(limits.tokens.windowMs, now);
    this.#logs.tokens.adjust(ticket.ref as Entry, actualTokens);
  }

  view(limits: RateLimits, now: number): LimiterView {
    return {
      requests: this.#view('requests', limits.requests, now),
      tokens: this.#view('tokens', limits.tokens, now),
    };
  }

  #view(kind: LimitKind, meter: Meter, now: number): MeterView | null {
    if (!isLimited(meter)) return null;
    const log = this.#logs[kind];
    const counted = log.prune(meter.windowMs, now);
    const oldest = log.oldest();
    return {
      limit: meter.limit,
      windowMs: meter.windowMs,
      remaining: Math.max(0, Math.floor(meter.limit - counted)),
      resetMs: oldest === undefined ? 0 : oldest + meter.windowMs - now,
    };
  }

  #refusal(kind: LimitKind, meter: Meter, amount: number, now: number): RateRefusal | undefined {
    if (!isLimited(meter)) return undefined;
    const log = this.#logs[kind];
    const counted = log.prune(meter.windowMs, now);
    if (counted + amount <= meter.limit) return undefined;
    const tooLarge = amount > meter.limit;
    return {
      allowed: false,
      kind,
      retryAfterMs: tooLarge
        ? Number.POSITIVE_INFINITY
        : log.msUntilAtMost(meter.limit - amount, meter.windowMs, now),
      limit: meter.limit,
      used: Math.ceil(counted),
      requested: amount,
      tooLarge,
      windowMs: meter.windowMs,
    };
  }
}
