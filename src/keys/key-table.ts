/**
 * The keys of a pool and their states: applies configs (live reloads keep unchanged keys' state),
 * records outcomes, and answers "which key for this request" through the pure `pickKey`.
 */

import { createHash } from 'node:crypto';
import { CostTally } from '../tokens/cost.js';
import { type PriceTable, priceTable } from '../tokens/prices.js';
import type { Outcome } from './classify.js';
import type { KeyConfig, PoolConfig } from './config.js';
import { type Awaitable, type DomainStore, MemoryStore, type Reservation } from './domain/store.js';
import { DomainPacer, whenReady } from './pacing/domain-pacer.js';
import { redactKey } from './redact.js';
import { type KeyView, type Pick, pickKey } from './select.js';
import type { KeyState, KeyStatus, LeaseRequest, LeaseResult } from './types.js';

/** Attempts in a row that could not reach a key's endpoint before the key is taken out (`invalid`). */
export const UNREACHABLE_LIMIT = 3;

export interface KeyEntry {
  id: number;
  config: KeyConfig;
  label: string;
  state: KeyState;
  coolingUntil: number;
  denied: Set<string>;
  /** The key's rate domain in the store (shared by a group's keys). */
  pacer: DomainPacer;
  requests: number;
  successes: number;
  inFlight: number;
  errors: Partial<Record<Outcome, number>>;
  tokens: number;
  /** What the key's answers cost (their `usage` at config.json `prices` and the table). */
  cost: CostTally;
  /** Why the key is invalid or exhausted, for `status()` and log lines. */
  reason: string | undefined;
  /** Attempts in a row whose endpoint could not be reached (reset by any real answer). */
  unreachableStreak: number;
  /** The key is invalid only because its endpoint was unreachable: a reload gives it a fresh start. */
  unreachable: boolean;
}

export interface StateChange {
  key: string;
  from: KeyState;
  to: KeyState | 'denied';
  status?: number | undefined;
  code?: string | undefined;
  model?: string | undefined;
  until?: number | undefined;
  /** Why, e.g. `unreachable at http://127.0.0.1:9/v1 (ECONNREFUSED, 3 attempts)`. */
  reason?: string | undefined;
  /** The key was taken out because its endpoint could not be reached. */
  unreachable?: boolean;
}

export interface ReloadDiff {
  added: string[];
  removed: string[];
  changed: string[];
  kept: number;
  /** Unchanged keys that were unreachable and get a fresh start. */
  retried: string[];
}

function sameKey(a: KeyConfig, b: KeyConfig): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export class KeyTable {
  keys: KeyEntry[] = [];
  keyIndex = 0;
  /** Whether some key's config has `tpm`. */
  tokenLimited = false;
  private nextId = 1;
  private pacers = new Map<string, DomainPacer>();
  /** Per worker: where its rotation goes next. */
  private cursors = new Map<number, number>();
  /** config.json `prices` over the bundled table; replaced on every apply. */
  private prices: PriceTable | undefined;
  /** What every key's cost tally prices with: the table of the config applied last. */
  private readonly currentPrices: PriceTable = {
    lookup: (model) => {
      this.prices ??= priceTable();
      return this.prices.lookup(model);
    },
  };

  /**
   * @param now the clock (tests pass a fake one)
   * @param defaultBaseUrl the base URL of keys without `base_url`, for messages
   * @param store where every rate domain's law runs (in memory for one process)
   */
  constructor(
    private readonly now: () => number,
    private readonly defaultBaseUrl = 'https://api.openai.com/v1',
    readonly store: DomainStore = new MemoryStore(),
  ) {}

  /** Applies a (re)loaded config: new keys join, removed keys leave, changed keys start fresh. */
  apply(config: PoolConfig): ReloadDiff {
    const old = new Map(this.keys.map((entry) => [entry.config.apiKey, entry]));
    const diff: ReloadDiff = { added: [], removed: [], changed: [], kept: 0, retried: [] };
    this.prices = priceTable(config.prices);
    const pacers = new Map<string, DomainPacer>();
    const keys = config.keys.map((keyConfig) => {
      const previous = old.get(keyConfig.apiKey);
      old.delete(keyConfig.apiKey);
      if (previous && sameKey(previous.config, keyConfig)) {
        diff.kept += 1;
        if (this.retry(previous)) diff.retried.push(previous.label);
        pacers.set(this.groupOf(previous), previous.pacer);
        return previous;
      }
      const entry = this.create(keyConfig, pacers);
      (previous ? diff.changed : diff.added).push(entry.label);
      return entry;
    });
    for (const entry of old.values()) diff.removed.push(entry.label);
    this.keys = keys;
    this.pacers = pacers;
    this.keyIndex = config.keyIndex;
    this.tokenLimited = keys.some((entry) => entry.config.tpm !== undefined);
    this.cursors.clear();
    return diff;
  }

  /** Keys taken out only for being unreachable become ready again; returns their labels. */
  retryUnreachable(): string[] {
    return this.keys.filter((entry) => this.retry(entry)).map((entry) => entry.label);
  }

  private retry(entry: KeyEntry): boolean {
    entry.unreachableStreak = 0;
    if (!entry.unreachable) return false;
    entry.unreachable = false;
    entry.reason = undefined;
    entry.state = 'ready';
    return true;
  }

  /** The base URL a key's requests go to (for messages; base URLs are not secret). */
  baseUrlOf(entry: KeyEntry): string {
    return (entry.config.baseUrl ?? this.defaultBaseUrl).replace(/\/+$/, '');
  }

  private groupOf(entry: { id: number; config: KeyConfig }): string {
    return entry.config.group !== undefined ? `group:${entry.config.group}` : `key:${entry.id}`;
  }

  private create(config: KeyConfig, pacers: Map<string, DomainPacer>): KeyEntry {
    const id = this.nextId++;
    const group = this.groupOf({ id, config });
    // A group's domain outlives its keys' edits (a reload keeps what its law learned).
    let pacer = pacers.get(group) ?? (config.group !== undefined ? this.pacers.get(group) : undefined);
    pacer ??= new DomainPacer(this.store, group, this.now(), { rpm: config.rpm, tpm: config.tpm });
    pacers.set(group, pacer);
    return {
      id,
      config,
      label: redactKey(config.apiKey, config.name),
      state: 'ready',
      coolingUntil: 0,
      denied: new Set(),
      pacer,
      requests: 0,
      successes: 0,
      inFlight: 0,
      errors: {},
      tokens: 0,
      cost: new CostTally(this.currentPrices),
      reason: undefined,
      unreachableStreak: 0,
      unreachable: false,
    };
  }

  byId(id: number): KeyEntry | undefined {
    return this.keys.find((entry) => entry.id === id);
  }

  /** Whether the key may ever serve a request for `model` in `organization` (without a config edit). */
  private serves(
    entry: KeyEntry,
    model: string | undefined,
    organization?: string,
    keyHash?: string,
  ): boolean {
    if (organization !== undefined && entry.config.organization !== organization) return false;
    if (keyHash !== undefined && apiKeyHash(entry.config.apiKey) !== keyHash) return false;
    if (model === undefined) return true;
    if (entry.denied.has(model)) return false;
    return entry.config.models === undefined || entry.config.models.includes(model);
  }

  /** Whether the key may serve the request now (not found out, and allowed the model meanwhile). */
  usable(entry: KeyEntry, request: LeaseRequest): boolean {
    const live = entry.state === 'ready' || entry.state === 'cooling';
    return live && this.serves(entry, request.model, request.organization, request.keyHash);
  }

  /** Cooling keys whose time has passed become ready again; returns the changes. */
  thaw(now: number): StateChange[] {
    const changes: StateChange[] = [];
    for (const entry of this.keys) {
      if (entry.state === 'cooling' && entry.coolingUntil <= now) {
        entry.state = 'ready';
        changes.push({ key: entry.label, from: 'cooling', to: 'ready' });
      }
    }
    return changes;
  }

  pick(request: LeaseRequest, now: number): Pick {
    const views: KeyView[] = this.keys.map((entry) => {
      const usable =
        (entry.state === 'ready' || entry.state === 'cooling') &&
        this.serves(entry, request.model, request.organization, request.keyHash);
      if (!usable) return { usable, readyAt: Number.POSITIVE_INFINITY, headroom: 0 };
      const readyAt = Math.max(entry.coolingUntil, entry.pacer.readyAt());
      return { usable, readyAt, headroom: entry.pacer.headroom() };
    });
    const start = this.cursors.get(request.workerId) ?? this.keyIndex + request.workerId;
    const pick = pickKey(views, start, now);
    if (pick.kind === 'key') this.cursors.set(request.workerId, pick.index + 1);
    return pick;
  }

  /**
   * Whether no key could ever serve this model without a config edit because every key that is
   * not invalid has refused it (fail fast), as opposed to keys being spent (wait for an edit).
   */
  modelUnavailable(model: string | undefined): boolean {
    if (model === undefined) return false;
    let refused = false;
    for (const entry of this.keys) {
      if (entry.state === 'invalid') continue;
      if (this.serves(entry, model)) return false;
      refused = true;
    }
    return refused;
  }

  /** A short account of why no key is usable now: `2 exhausted, 1 unreachable, 1 cooling`. */
  describe(model: string | undefined, now = this.now(), organization?: string): string {
    const counts = new Map<string, number>();
    for (const entry of this.keys) {
      let why: string = entry.state;
      if (entry.unreachable) why = 'unreachable';
      else if (entry.state === 'ready' || entry.state === 'cooling') {
        if (organization !== undefined && entry.config.organization !== organization)
          why = `not in organization ${organization}`;
        else if (!this.serves(entry, model)) why = `without access to ${model}`;
        else why = entry.state === 'cooling' && entry.coolingUntil > now ? 'cooling' : 'rate-limited';
      }
      counts.set(why, (counts.get(why) ?? 0) + 1);
    }
    return [...counts].map(([why, n]) => `${n} ${why}`).join(', ') || 'no keys';
  }

  /**
   * Asks the key's rate domain for a send of `tokens` now (the store's law decides). A refusal
   * shows in the next `pick` as the domain's wait.
   */
  reserve(entry: KeyEntry, tokens: number, now: number): Awaitable<Reservation> {
    return entry.pacer.reserve(now, tokens);
  }

  /** A lease on the key was handed out (its domain reserved the send). */
  leased(entry: KeyEntry): void {
    entry.inFlight += 1;
    entry.requests += 1;
  }

  /**
   * Records how an attempt ended; returns the state change it caused, if any (later when the
   * domain's store answers later: a cooling follows the store's pause).
   */
  settle(
    entry: KeyEntry,
    seq: number,
    result: LeaseResult,
    now: number,
    grantedAt = now,
  ): Awaitable<StateChange | undefined> {
    entry.inFlight = Math.max(0, entry.inFlight - 1);
    if (result.outcome === 'cancelled') {
      entry.requests = Math.max(0, entry.requests - 1);
      entry.pacer.cancel(seq);
      return undefined;
    }
    const answered = entry.pacer.answer(now, {
      seq,
      status: pacingStatus(result),
      latencyMs: now - grantedAt,
      headers: result.limits,
      usedTokens: result.tokens,
    });
    if (result.tokens) entry.tokens += result.tokens;
    if (result.usage) entry.cost.add(result.model, result.usage);
    if (result.outcome === 'ok') {
      entry.successes += 1;
      entry.unreachableStreak = 0;
      return undefined;
    }
    entry.errors[result.outcome] = (entry.errors[result.outcome] ?? 0) + 1;
    const change = { key: entry.label, from: entry.state, status: result.status, code: result.code };
    const answer = [result.status, result.code].filter((part) => part !== undefined).join(' ');
    if (result.unreachable !== undefined) return this.unreachableAttempt(entry, result.unreachable, change);
    entry.unreachableStreak = 0;
    switch (result.outcome) {
      case 'quota':
        if (entry.state === 'exhausted' || entry.state === 'invalid') return undefined;
        entry.state = 'exhausted';
        entry.reason = `no quota left (${answer})`;
        return { ...change, to: 'exhausted', reason: entry.reason };
      case 'invalid':
        if (entry.state === 'invalid') return undefined;
        entry.state = 'invalid';
        entry.reason = `rejected (${answer})`;
        return { ...change, to: 'invalid', reason: entry.reason };
      case 'denied':
        if (result.model === undefined || entry.denied.has(result.model)) return undefined;
        entry.denied.add(result.model);
        return { ...change, to: 'denied', model: result.model };
      case 'rate_limit':
        // The law pauses the domain itself (retry-after of any dialect, clamped to 24 h, or a run
        // of refusals); the key shows as cooling while that pause lasts.
        return whenReady(answered, () => this.cool(entry, change));
      default:
        return undefined;
    }
  }

  /** The key cools while its domain is paused (after a refusal); the change, if it is one. */
  private cool(entry: KeyEntry, change: Omit<StateChange, 'to'>): StateChange | undefined {
    if (entry.state !== 'ready' && entry.state !== 'cooling') return undefined;
    const now = this.now();
    const until = entry.pacer.status(now).blockedUntil ?? 0;
    if (until <= now) return undefined;
    entry.coolingUntil = until;
    const from = entry.state;
    entry.state = 'cooling';
    return from === 'cooling' ? undefined : { ...change, from, to: 'cooling', until };
  }

  /** One more attempt that could not reach the key's endpoint; the third in a row takes the key out. */
  private unreachableAttempt(
    entry: KeyEntry,
    why: string,
    change: Omit<StateChange, 'to'>,
  ): StateChange | undefined {
    entry.unreachableStreak += 1;
    if (entry.unreachableStreak < UNREACHABLE_LIMIT) return undefined;
    if (entry.state !== 'ready' && entry.state !== 'cooling') return undefined;
    entry.state = 'invalid';
    entry.unreachable = true;
    // The pool's fetch says `key <label>: <base URL> refused the connection (ECONNREFUSED)`.
    const what = why.startsWith(`key ${entry.label}: `) ? why.slice(entry.label.length + 6) : why;
    const base = this.baseUrlOf(entry);
    const times = `${entry.unreachableStreak} attempts in a row`;
    entry.reason = what.includes(base)
      ? `unreachable: ${what}, ${times}`
      : `unreachable at ${base} (${what}, ${times})`;
    return { ...change, to: 'invalid', reason: entry.reason, unreachable: true };
  }

  status(now: number): KeyStatus[] {
    return this.keys.map((entry) => {
      const status: KeyStatus = {
        key: entry.label,
        state: entry.state === 'cooling' && entry.coolingUntil <= now ? 'ready' : entry.state,
        deniedModels: [...entry.denied],
        requests: entry.requests,
        successes: entry.successes,
        inFlight: entry.inFlight,
        errors: { ...entry.errors },
        tokens: entry.tokens,
        cost: entry.cost.summary,
        pacing: entry.pacer.status(now),
      };
      if (entry.config.group !== undefined) status.group = entry.config.group;
      if (entry.config.models !== undefined) status.models = [...entry.config.models];
      if (status.state === 'cooling') status.coolingUntil = new Date(entry.coolingUntil).toISOString();
      if (entry.reason !== undefined && (entry.state === 'invalid' || entry.state === 'exhausted')) {
        status.reason = entry.reason;
      }
      return status;
    });
  }
}

/**
 * The status the pacer learns from: 429 and 503 are losses; a quota refusal (also a 429 on the
 * wire) is not a sign of pace, so it is told as 402.
 */
function pacingStatus(result: LeaseResult): number {
  if (result.outcome === 'rate_limit') return 429;
  if (result.outcome === 'quota') return 402;
  return result.status ?? (result.outcome === 'ok' ? 200 : 500);
}

const keyHashes = new Map<string, string>();

/** The first 16 hex digits of the key's SHA-256: names a key (on disk, in a lease request) without holding it. */
export function apiKeyHash(apiKey: string): string {
  let hash = keyHashes.get(apiKey);
  if (hash === undefined) {
    hash = createHash('sha256').update(apiKey).digest('hex').slice(0, 16);
    keyHashes.set(apiKey, hash);
  }
  return hash;
}
