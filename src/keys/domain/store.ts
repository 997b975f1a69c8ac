/**
 * One store of rate domains, two implementations: in memory (this file, the law's transitions run
 * on a plain object per domain) and, for many processes, Redis (the same transitions in Lua; not
 * written yet, see docs/pacing.md). Policy code takes a `DomainStore` and never asks which.
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
  type Verdict,
} from './law.js';

/** A reservation: `seq` when the request may go now, else the time to ask again (`Infinity`: after an answer). */
export type Reservation = { seq: number; at?: undefined } | { seq?: undefined; at: number };

export interface DomainStore {
  /** Opens `domain` with its configured limits, if it is not open yet. */
  open(domain: string, now: number, config?: { rpm?: number | undefined; tpm?: number | undefined }): void;
  reserve(domain: string, now: number, tokens: number): Reservation;
  answer(domain: string, now: number, sample: Sample): Verdict;
  cancel(domain: string, seq: number): void;
  pause(domain: string, until: number): void;
  status(domain: string, now: number): PacingStatus;
}

export class MemoryStore implements DomainStore {
  private readonly domains = new Map<string, DomainState>();

  open(
    domain: string,
    now: number,
    config: { rpm?: number | undefined; tpm?: number | undefined } = {},
  ): void {
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
    return at <= now ? { seq: sent(state, now, tokens) } : { at };
  }

  answer(domain: string, now: number, sample: Sample): Verdict {
    return answered(this.state(domain, now), now, sample);
  }

  cancel(domain: string, seq: number): void {
    const state = this.domains.get(domain);
    if (state) cancelled(state, seq);
  }

  pause(domain: string, until: number): void {
    pause(this.state(domain, until), until);
  }

  /** The domain as `pool.status().keys[i].pacing` shows it (the shape of earlier rounds). */
  status(domain: string, now: number): PacingStatus {
    const state = this.state(domain, now);
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
