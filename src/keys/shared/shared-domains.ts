/**
 * The domain store of a shared pool: every rate domain's law runs in Redis (`domain/redis-store.ts`,
 * the law's Lua), so every process sees every send, every answer and every refusal of the domain,
 * and learned limits and pauses are the domain's, not one process's. Each domain is named in Redis
 * by the pool's keyed hash (`SharedPool.redisDomain`): no API key and no group name reach Redis.
 *
 * Redis is trusted no further than a server's headers: a wait or a pause read from it lasts at most
 * 24 h. While Redis is unreachable (or a call fails: full, frozen), the domain runs on this
 * process's own law in memory, and goes back to Redis when it is back; a request answers to the
 * store that let it go (its `seq` says which: Redis's are positive, the local ones negative).
 */
import type { Sample, Verdict } from '../domain/law.js';
import type { RedisStore as LawStore } from '../domain/redis-store.js';
import { type DomainConfig, type DomainStore, MemoryStore, type Reservation } from '../domain/store.js';
import type { PacingStatus } from '../pacing/controller-types.js';
import { MAX_WAIT_MS } from '../pacing/durations.js';

/** What the store needs of the pool's Redis connection (`shared/redis-store.ts`). */
export interface LawConnection {
  readonly law: LawStore;
  readonly connected: boolean;
  /** Counts the times Redis came back (perhaps empty): domains are opened again after each. */
  readonly epoch: number;
  /** Runs one call to Redis, saying once when it was slow or refused; rethrows. */
  run<T>(call: () => Promise<T>): Promise<T>;
}

/**
 * When the domain's in-flight bound is full, a place frees when any process's answer comes, which
 * this process does not hear: it asks again after the mean time between answers (latency ÷ the
 * bound, Little's law), at least `minMs` (a Redis call of a busy process costs up to a few ms,
 * and a process asking faster than that would spend more on asking than a place is worth) and at
 * most `maxMs` (the pool's
 * sync period, `SYNC_MS`: how stale any shared view may get). Before any latency is known,
 * `unknownMs`: a local server's first answers come within about that; one Redis call costs about
 * 0.1 ms, so asking that often costs Redis about 1% per waiting process.
 */
export const FULL_POLL = Object.freeze({ minMs: 5, maxMs: 250, unknownMs: 10 });

/** A wait read from Redis, clamped like one read from headers: 0..24 h (anyone may write Redis). */
export const clampWait = (ms: number): number =>
  Number.isFinite(ms) ? Math.min(MAX_WAIT_MS, Math.max(0, ms)) : 0;

export class SharedDomainStore implements DomainStore {
  /** The law run here while Redis is not reachable. */
  private readonly local = new MemoryStore();
  private readonly configs = new Map<string, DomainConfig>();
  /** Redis names opened (with their config) since Redis last came back. */
  private readonly opened = new Set<string>();
  private epoch = -1;
  /** Domains whose last call went to Redis (their status is Redis's), by name. */
  private readonly inRedis = new Set<string>();

  constructor(
    private readonly redis: LawConnection,
    /** The domain's name in Redis (its keyed hash), or undefined when it is not in the table. */
    private redisName: (domain: string) => string | undefined,
  ) {}

  /** Waits for the keys' states read from Redis to be recent, if they are not (the pool's sync). */
  private fresh: () => Promise<void> | undefined = () => undefined;

  /**
   * The pool's shared side, once it exists: how it names the domains in Redis, and how a send
   * granted waits until the keys' states it was read with are recent (`SharedPool.fresh`).
   */
  attach(redisName: (domain: string) => string | undefined, fresh: () => Promise<void> | undefined): void {
    this.redisName = redisName;
    this.fresh = fresh;
  }

  open(domain: string, now: number, config: DomainConfig = {}): void {
    this.local.open(domain, now, config);
    this.configs.set(domain, config);
  }

  /** The domain's Redis name when Redis is reachable, opened there (once per Redis life) first. */
  private async target(domain: string, now: number): Promise<string | undefined> {
    const name = this.redisName(domain);
    if (name === undefined || !this.redis.connected) return undefined;
    if (this.epoch !== this.redis.epoch) {
      this.epoch = this.redis.epoch;
      this.opened.clear();
    }
    if (!this.opened.has(name)) {
      const config = this.configs.get(domain) ?? {};
      await this.redis.run(() => this.redis.law.open(name, now, config));
      this.opened.add(name);
    }
    return name;
  }

  /** Runs `call` on the domain in Redis; undefined when Redis is out of reach (the caller goes local). */
  private async inShared<T>(
    domain: string,
    now: number,
    call: (name: string) => Promise<T>,
  ): Promise<T | undefined> {
    try {
      const name = await this.target(domain, now);
      if (name === undefined) return undefined;
      const result = await this.redis.run(() => call(name));
      this.inRedis.add(domain);
      return result;
    } catch {
      this.inRedis.delete(domain);
      return undefined;
    }
  }

  async reserve(domain: string, now: number, tokens: number): Promise<Reservation> {
    const shared = await this.inShared(domain, now, (name) => this.redis.law.reserve(name, now, tokens));
    if (shared === undefined) {
      const local = this.local.reserve(domain, now, tokens);
      return local.seq !== undefined ? { seq: -local.seq } : local;
    }
    if (shared.seq !== undefined) {
      // (A process stalled past a sync, on a busy machine, would send on what it knew before it.)
      await this.fresh();
      return shared;
    }
    if (shared.waitMs !== Number.POSITIVE_INFINITY) return { waitMs: clampWait(shared.waitMs) };
    return { waitMs: this.fullPollMs(domain, now) };
  }

  /** How long a process waits before asking a full domain again (see FULL_POLL). */
  private fullPollMs(domain: string, now: number): number {
    const status = this.status(domain, now);
    if (status.latencyMs === undefined) return FULL_POLL.unknownMs;
    const gap = status.latencyMs / Math.max(1, status.inFlightCap);
    return Math.min(FULL_POLL.maxMs, Math.max(FULL_POLL.minMs, gap));
  }

  async answer(domain: string, now: number, sample: Sample): Promise<Verdict> {
    if (sample.seq < 0) return this.local.answer(domain, now, { ...sample, seq: -sample.seq });
    const shared = await this.inShared(domain, now, (name) => this.redis.law.answer(name, now, sample));
    // (Redis lost since the send: the verdict is this process's law's, which has no ticket of it.)
    return shared ?? this.local.answer(domain, now, sample);
  }

  async cancel(domain: string, seq: number): Promise<void> {
    if (seq < 0) return this.local.cancel(domain, -seq);
    await this.inShared(domain, Date.now(), (name) => this.redis.law.cancel(name, seq));
  }

  async pause(domain: string, now: number, ms: number): Promise<void> {
    this.local.pause(domain, now, ms);
    await this.inShared(domain, now, (name) => this.redis.law.pause(name, now, ms));
  }

  /** A config save: the domain's pause ends, in Redis for every process and here. */
  async unpause(domain: string, now: number): Promise<void> {
    this.local.unpause(domain, now);
    await this.inShared(domain, now, (name) => this.redis.law.unpause(name, now));
  }

  /**
   * Reads the domain's state from Redis (opening it there if need be), so `status` shows what every
   * process learned even before this one sends (the pool's sync calls it).
   */
  async refresh(domain: string, now: number): Promise<void> {
    const config = this.configs.get(domain) ?? {};
    await this.inShared(domain, now, (name) => this.redis.law.open(name, now, config));
  }

  /** What this process last saw of the domain: in Redis, or its own law while Redis is away. */
  status(domain: string, now: number): PacingStatus {
    const name = this.redisName(domain);
    if (name === undefined || !this.inRedis.has(domain)) return this.local.status(domain, now);
    const status = this.redis.law.status(name, now);
    if (status.blockedUntil !== undefined)
      status.blockedUntil = Math.min(status.blockedUntil, now + MAX_WAIT_MS);
    return status;
  }
}
