/**
 * The domain store of a shared pool until the Redis store (the law's transitions in Lua,
 * `domain/redis-store.ts`) lands. Each process runs the law in memory (`MemoryStore`); every send
 * it allows also takes its slot, one pace interval long, in the domain's schedule in Redis
 * (`RESERVE`), so the processes together keep to one pace; a pause (a retry-after, a run of
 * refusals) goes to Redis for every process (`PAUSE`), and comes back through the sync.
 */

import type { Sample, Verdict } from '../domain/law.js';
import { type DomainConfig, type DomainStore, MemoryStore, type Reservation } from '../domain/store.js';
import type { PacingStatus } from '../pacing/controller-types.js';
import { MINUTE_MS } from '../pacing/dialects.js';
import { clampWait, type RedisStore } from './redis-store.js';

/**
 * How far ahead a slot may be reserved; beyond it the domain waits and asks again. Two seconds is
 * more than any pace interval worth sharing a schedule for and short enough that a pause heard
 * meanwhile (the sync runs every 250 ms) is seen before the slot starts.
 */
export const MAX_AHEAD_MS = 2000;

export class SlotStore implements DomainStore {
  private readonly local = new MemoryStore();
  /** Per domain: its configured tpm (the law keeps it, but its status does not show it). */
  private readonly tokenRates = new Map<string, number>();
  /** A slot granted in Redis for later: the next send of the domain goes on it, at `at` (local clock). */
  private readonly held = new Map<string, number>();
  /** Pauses heard from Redis (other processes', or this one's read back), until (local clock). */
  private readonly heard = new Map<string, number>();

  constructor(
    private readonly redis: RedisStore,
    /** The domain's name in Redis (its keyed hash), or undefined when it is not in the table. */
    private readonly redisName: (domain: string) => string | undefined,
  ) {}

  open(domain: string, now: number, config: DomainConfig = {}): void {
    this.local.open(domain, now, config);
    if (config.tpm) this.tokenRates.set(domain, config.tpm / MINUTE_MS);
  }

  async reserve(domain: string, now: number, tokens: number): Promise<Reservation> {
    const paused = this.heard.get(domain) ?? 0;
    if (paused > now) return { waitMs: paused - now };
    const reservation = this.local.reserve(domain, now, tokens);
    if (reservation.seq === undefined) return reservation;
    const name = this.redisName(domain);
    const held = this.held.get(domain);
    if (!name || (held !== undefined && held <= now)) {
      this.held.delete(domain);
      return reservation;
    }
    if (held !== undefined) return this.giveBack(domain, reservation.seq, held - now);
    const cost = this.intervalOf(domain, now, tokens);
    const slot = await this.redis.reserve(name, cost, Math.max(MAX_AHEAD_MS, 2 * cost));
    const at = Date.now();
    if (!slot.granted) return this.giveBack(domain, reservation.seq, slot.retryMs);
    if (slot.delayMs <= 0) return reservation;
    // The slot starts later: this send waits for it (the law's place given back meanwhile).
    this.held.set(domain, at + slot.delayMs);
    return this.giveBack(domain, reservation.seq, slot.delayMs);
  }

  private giveBack(domain: string, seq: number, waitMs: number): Reservation {
    this.local.cancel(domain, seq);
    return { waitMs: Math.max(1, waitMs) };
  }

  /** The time one send of `tokens` takes in the domain's schedule: the law's pace, or its tpm. */
  private intervalOf(domain: string, now: number, tokens: number): number {
    const perMinute = this.local.status(domain, now).requestsPerMinute;
    const byRequests = Number.isFinite(perMinute) && perMinute > 0 ? MINUTE_MS / perMinute : 0;
    const tokenRate = this.tokenRates.get(domain);
    return Math.max(byRequests, tokenRate ? tokens / tokenRate : 0);
  }

  answer(domain: string, now: number, sample: Sample): Verdict {
    const before = this.local.status(domain, now).blockedUntil ?? 0;
    const verdict = this.local.answer(domain, now, sample);
    const after = this.local.status(domain, now).blockedUntil ?? 0;
    const name = this.redisName(domain);
    if (name && after > before && after > now) void this.redis.pause(name, after - now);
    return verdict;
  }

  cancel(domain: string, seq: number): void {
    this.local.cancel(domain, seq);
  }

  pause(domain: string, now: number, ms: number): void {
    this.local.pause(domain, now, ms);
  }

  unpause(domain: string, now: number): void {
    this.local.unpause(domain, now);
  }

  /** A pause read from Redis (the sync): held apart from the law's own, so a config save ends it. */
  heardPause(domain: string, until: number): void {
    this.heard.set(domain, Math.max(this.heard.get(domain) ?? 0, until));
  }

  /** A config save: the pauses heard from Redis end (the law's own stay). */
  clearHeard(): void {
    this.heard.clear();
  }

  status(domain: string, now: number): PacingStatus {
    const status = this.local.status(domain, now);
    const heard = this.heard.get(domain) ?? 0;
    if (heard > now && heard > (status.blockedUntil ?? 0)) status.blockedUntil = heard;
    return status;
  }
}

/** A wait read from Redis as an instant of the local clock (clamped: anyone may write Redis). */
export const localUntil = (redisUntil: number, redisNow: number, localNow: number): number =>
  localNow + clampWait(redisUntil - redisNow);
