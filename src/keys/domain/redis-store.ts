/**
 * The Redis store of rate domains: the law's transitions as Lua (`lua/*.lua`), one script per
 * call, so every process and machine sharing a Redis shares each domain's schedule, in-flight count
 * and learned headers, atomically. By default the scripts read Redis's clock (`TIME`), so machines
 * whose clocks disagree still share one schedule (replies are delays); `{ clock: 'caller' }` uses
 * the `now` each call passes (the conformance test replays the in-memory store's traces so).
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { PacingStatus } from '../pacing/controller-types.js';
import { MINUTE_MS, type NormalizedLimits } from '../pacing/dialects.js';
import { learnedLimits } from '../pacing/learned.js';
import { checkNamespace, DEFAULT_NAMESPACE, PREFIX } from '../shared/naming.js';
import { LAW, type Sample, type Verdict } from './law.js';
import { defineTransitions, type TRANSITIONS } from './lua-loader.js';
import type { DomainConfig, DomainStore, Reservation } from './store.js';

export interface RedisStoreOptions {
  /** Keys are `keybatch:pool:<namespace>:law:…`. @default 'default' */
  namespace?: string;
  /** Whose clock the scripts run on: Redis's (`TIME`) or the `now` each call passes. @default 'redis' */
  clock?: 'redis' | 'caller';
  /**
   * A request in flight longer than this belongs to a process that died: its place in flight comes
   * back. Pass well over the longest attempt's timeout. @default 1_200_000 (twice the pool's default
   * attempt timeout of 600 s)
   */
  ticketTtlMs?: number;
}

export const DEFAULT_TICKET_TTL_MS = 1_200_000;

type Reply = string[];
type Keys = [string, string, string];
type Commands = Record<
  (typeof TRANSITIONS)[keyof typeof TRANSITIONS],
  (...args: [...Keys, ...Array<string | number>]) => Promise<Reply>
>;

/** What the last reply said of a domain (its `status`), on the script's clock. */
interface Seen {
  pace: number;
  inFlight: number;
  cap: number;
  latencySlow: number;
  pausedUntil: number;
  headers: NormalizedLimits | undefined;
}

/** A number the scripts printed with %.17g (`inf` after an answer). */
function numberOf(text: string | undefined): number {
  if (text === 'inf') return Number.POSITIVE_INFINITY;
  if (text === '-inf') return Number.NEGATIVE_INFINITY;
  return Number(text);
}

const WINDOWS = ['requests', 'requestsLong', 'tokens', 'inputTokens'] as const;
const WINDOW_FIELDS = ['limit', 'remaining', 'resetMs', 'resetAt', 'windowMs'] as const;

/** The sample's headers as the name/value pairs `answer.lua` reads (only what the law reads). */
function headerArgs(h: NormalizedLimits | undefined): string[] {
  if (!h) return [];
  const args: string[] = [];
  if (h.dialect !== undefined) args.push('dialect', h.dialect);
  if (h.retryAfterMs !== undefined) args.push('retryAfterMs', String(h.retryAfterMs));
  for (const window of WINDOWS) {
    const w = h[window];
    if (!w) continue;
    for (const field of WINDOW_FIELDS) {
      const value = w[field];
      if (value !== undefined) args.push(`${window}.${field}`, String(value));
    }
  }
  return args;
}

/** Headers back from the name/value pairs of a reply. */
function headersOf(pairs: string[]): NormalizedLimits | undefined {
  if (pairs.length === 0) return undefined;
  const h: NormalizedLimits = {};
  const windows: Record<string, Record<string, number>> = {};
  for (let i = 0; i + 1 < pairs.length; i += 2) {
    const name = pairs[i]!;
    const value = pairs[i + 1]!;
    if (name === 'dialect') {
      h.dialect = value as NonNullable<NormalizedLimits['dialect']>;
      continue;
    }
    const [window, field] = name.split('.') as [string, string];
    windows[window] ??= {};
    windows[window][field] = numberOf(value);
  }
  for (const window of WINDOWS) {
    const w = windows[window];
    if (w?.limit !== undefined) h[window] = w as unknown as NonNullable<NormalizedLimits[typeof window]>;
  }
  return h;
}

/** The status part of a reply, after the transition's own `head` items. */
function seenOf(reply: Reply, head: number): { now: number; seen: Seen } {
  const at = (i: number) => numberOf(reply[head + i]);
  return {
    now: at(0),
    seen: {
      pace: at(1),
      inFlight: at(2),
      cap: at(3),
      latencySlow: at(4),
      pausedUntil: at(5),
      headers: headersOf(reply.slice(head + 6)),
    },
  };
}

export class RedisStore implements DomainStore {
  private readonly commands: Commands;
  private readonly base: string;
  private readonly clock: 'redis' | 'caller';
  private readonly ticketTtlMs: number;
  private readonly seen = new Map<string, Seen>();
  /** The caller's clock less the scripts' (0 on the caller's clock), as of the last reply. */
  private offset = 0;

  /** `redis` stays the caller's: this store defines its commands on it and never closes it. */
  constructor(redis: Redis, options: RedisStoreOptions = {}) {
    const namespace = options.namespace ?? DEFAULT_NAMESPACE;
    const problem = checkNamespace(namespace);
    if (problem) throw new TypeError(problem);
    const ttl = options.ticketTtlMs ?? DEFAULT_TICKET_TTL_MS;
    if (!(Number.isFinite(ttl) && ttl > 0))
      throw new TypeError(`ticketTtlMs: expected a finite number > 0, got ${String(ttl)}`);
    defineTransitions(redis);
    this.commands = redis as unknown as Commands;
    this.base = `${PREFIX}:${namespace}:law`;
    this.clock = options.clock ?? 'redis';
    this.ticketTtlMs = ttl;
  }

  /**
   * The domain's three keys, in one cluster slot. The domain is hashed again (the pool already
   * names it by a keyed hash): whatever a caller passes, Redis never holds its text.
   */
  private keys(domain: string): Keys {
    const id = createHash('sha256').update(domain).digest('hex').slice(0, 32);
    const state = `${this.base}:{${id}}`;
    return [state, `${state}:tickets`, `${state}:ages`];
  }

  private see(domain: string, reply: Reply, head: number, callerNow: number | undefined): void {
    const { now, seen } = seenOf(reply, head);
    if (callerNow !== undefined && this.clock === 'redis') this.offset = callerNow - now;
    this.seen.set(domain, seen);
  }

  async open(domain: string, now: number, config: DomainConfig = {}): Promise<void> {
    const reply = await this.commands.kbLawOpen(
      ...this.keys(domain),
      now,
      this.clock,
      config.rpm ? config.rpm : '',
      config.tpm ? config.tpm : '',
    );
    this.see(domain, reply, 0, now);
  }

  async reserve(domain: string, now: number, tokens: number): Promise<Reservation> {
    const reply = await this.commands.kbLawReserve(
      ...this.keys(domain),
      now,
      this.clock,
      tokens,
      this.ticketTtlMs,
    );
    this.see(domain, reply, 2, now);
    const value = numberOf(reply[1]);
    return reply[0] === 'seq' ? { seq: value } : { waitMs: value };
  }

  async answer(domain: string, now: number, sample: Sample): Promise<Verdict> {
    const latency = Number.isFinite(sample.latencyMs) ? String(sample.latencyMs) : '';
    const reply = await this.commands.kbLawAnswer(
      ...this.keys(domain),
      now,
      this.clock,
      sample.seq,
      sample.status,
      latency,
      ...headerArgs(sample.headers),
    );
    this.see(domain, reply, 1, now);
    return reply[0] as Verdict;
  }

  async cancel(domain: string, seq: number): Promise<void> {
    const reply = await this.commands.kbLawCancel(...this.keys(domain), '', this.clock, seq);
    if (reply.length > 0) this.see(domain, reply, 0, undefined);
  }

  async pause(domain: string, now: number, ms: number): Promise<void> {
    const reply = await this.commands.kbLawPause(...this.keys(domain), now, this.clock, ms);
    this.see(domain, reply, 0, now);
  }

  async unpause(domain: string, now: number): Promise<void> {
    const reply = await this.commands.kbLawUnpause(...this.keys(domain), now, this.clock);
    this.see(domain, reply, 0, now);
  }

  /** The domain as this process last saw it (every reply carries it), as MemoryStore shows it. */
  status(domain: string, now: number): PacingStatus {
    const seen = this.seen.get(domain);
    if (!seen) {
      return {
        mode: 'slow-start',
        requestsPerMinute: Number.POSITIVE_INFINITY,
        inFlight: 0,
        inFlightCap: LAW.initialCap,
        learned: learnedLimits(undefined),
      };
    }
    const { pace } = seen;
    const status: PacingStatus = {
      mode: seen.headers ? 'headers' : pace > 0 ? 'observed' : 'slow-start',
      requestsPerMinute: pace > 0 ? pace * MINUTE_MS : Number.POSITIVE_INFINITY,
      inFlight: seen.inFlight,
      inFlightCap: seen.cap,
      learned: learnedLimits(seen.headers),
    };
    if (seen.latencySlow > 0) status.latencyMs = seen.latencySlow;
    const blockedUntil = this.clock === 'caller' ? seen.pausedUntil : seen.pausedUntil + this.offset;
    if (blockedUntil > now) status.blockedUntil = blockedUntil;
    return status;
  }
}
