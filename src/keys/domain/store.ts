/**
 * One store of rate domains, two implementations: in memory (this file, the law's transitions run
 * on a plain object per domain) and, for many processes, Redis (the same transitions in Lua,
 * `redis-store.ts`). Policy code takes a `DomainStore` and never asks which.
 */
import type { PacingStatus } from '../pacing/controller-types.js';
import { MINUTE_MS } from '../pacing/dialects.js';
import { learnedLimits } from '../pacing/learned.js';
import {
  answered,
  cancelled,
  type DomainState,
  initialState,
  paceOf,
  pause,
  readyAt,
  type Sample,
  sent,
  unpause,
  type Verdict,
} from './law.js';

/**
 * A reservation: `seq` (the store's number for the request) when it may go now, else `waitMs`
 * until it is worth asking again (`Infinity`: not before an answer frees a place in flight).
 * A delay, not an instant: a Redis store runs on Redis's clock, which other machines share.
 */
export type Reservation = { seq: number; waitMs?: undefined } | { seq?: undefined; waitMs: number };

/** A value now (the in-memory store) or later (the Redis store): callers `await` either. */
export type Awaitable<T> = T | Promise<T>;

export interface DomainConfig {
  rpm?: number | undefined;
  tpm?: number | undefined;
}

/**
 * The one store of rate domains policy code takes. Every call runs one of the law's transitions
 * (`law.ts`) atomically. `now` is the caller's clock; the Redis store uses Redis's own clock
 * (`TIME`) unless it was opened with the caller's clock (the conformance test does).
 */
export interface DomainStore {
  /** Opens `domain` with its configured limits, if it is not open yet (a reload's new limits apply). */
  open(domain: string, now: number, config?: DomainConfig): Awaitable<void>;
  reserve(domain: string, now: number, tokens: number): Awaitable<Reservation>;
  answer(domain: string, now: number, sample: Sample): Awaitable<Verdict>;
  cancel(domain: string, seq: number): Awaitable<void>;
  /** Pauses the domain for `ms` from now (a retry-after heard elsewhere, or a config's pause). */
  pause(domain: string, now: number, ms: number): Awaitable<void>;
  /** Ends the domain's pause now (a config save clears pauses, issue 23); the pace stays. */
  unpause(domain: string, now: number): Awaitable<void>;
  /** The domain as `pool.status().keys[i].pacing` shows it: the last state this process saw. */
  status(domain: string, now: number): PacingStatus;
}

export class MemoryStore implements DomainStore {
  private readonly domains = new Map<string, DomainState>();

  open(domain: string, now: number, config: DomainConfig = {}): void {
    if (this.domains.has(domain)) return;
    const limits: { rpm?: number; tpm?: number } = {};
    if (config.rpm) limits.rpm = config.rpm;
    if (config.tpm) limits.tpm = config.tpm;
    this.domains.set(domain, initialState(now, limits));
  }

  private state(domain: string, now: number): DomainState {
    let state = this.domains.get(domain);
    if (!state) {
      state = initialState(now);
      this.domains.set(domain, state);
    }
    return state;
  }

  reserve(domain: string, now: number, tokens: number): Reservation {
    const state = this.state(domain, now);
    const at = readyAt(state, now, tokens);
    return at <= now ? { seq: sent(state, now, tokens) } : { waitMs: at - now };
  }

  answer(domain: string, now: number, sample: Sample): Verdict {
    return answered(this.state(domain, now), now, sample);
  }

  cancel(domain: string, seq: number): void {
    const state = this.domains.get(domain);
    if (state) cancelled(state, seq);
  }

  pause(domain: string, now: number, ms: number): void {
    pause(this.state(domain, now), now + ms);
  }

  unpause(domain: string, now: number): void {
    unpause(this.state(domain, now), now);
  }

  /** The domain as `pool.status().keys[i].pacing` shows it (the shape of earlier rounds). */
  status(domain: string, now: number): PacingStatus {
    const state = this.domains.get(domain) ?? initialState(now); // (not opened by a look)
    const pace = paceOf(state);
    const status: PacingStatus = {
      mode: state.headers ? 'headers' : pace > 0 ? 'observed' : 'slow-start',
      requestsPerMinute: pace > 0 ? pace * MINUTE_MS : Number.POSITIVE_INFINITY,
      inFlight: state.inFlight,
      inFlightCap: Math.floor(state.cap),
      learned: learnedLimits(state.headers),
    };
    if (state.latencySlow > 0) status.latencyMs = state.latencySlow;
    if (state.pausedUntil > now) status.blockedUntil = state.pausedUntil;
    return status;
  }
}
