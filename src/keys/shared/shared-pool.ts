/**
 * What a KeyPool does with a RedisStore besides pacing (which its domain store does in Redis,
 * `shared-domains.ts`): tells Redis what its answers showed (a key rejected, spent, denied a model,
 * cooling), and every `SYNC_MS` adds its counters and reads back what the other processes found,
 * merging it in (`merge.ts`), and each domain's state (what `status()` shows of it). Polling, not pub/sub: one connection, and the same tick
 * that shares a change also re-syncs after Redis was lost, with nothing to miss in between; 250 ms
 * is well inside the 1 s a change may take to reach every process.
 */
import type { Logger } from '../../logger.js';
import type { KeyEntry, KeyTable, StateChange } from '../key-table.js';
import type { PoolStatus } from '../types.js';
import { type Counters, counterDeltas, emptyCounters, fieldMap, mergeKey, parseKey } from './merge.js';
import { domainText, redactUrl } from './naming.js';
import type { RedisStore } from './redis-store.js';
import type { SharedDomainStore } from './shared-domains.js';

/** How often a process adds its counters and reads back the others' findings. */
export const SYNC_MS = 250;
/**
 * A send granted waits for a sync when the keys' states were last read longer ago than this (a
 * process stalled on a busy machine misses its ticks): twice the period, half the second in which
 * a key found out in one process must reach every other, the other half for the finder's write and
 * the request's trip.
 */
export const FRESH_MS = 2 * SYNC_MS;

export interface SharedPoolHooks {
  logger: Logger;
  /** A key changed state because of what another process found. */
  onChange(change: StateChange): void;
  /** Something changed that may let a waiting request go. */
  dispatch(): void;
}

function countersOf(entry: KeyEntry): Counters {
  return {
    requests: entry.requests,
    successes: entry.successes,
    tokens: entry.tokens,
    cost: entry.cost.summary.knownUsd,
    errors: { ...entry.errors },
  };
}

export class SharedPool {
  private readonly flushed = new Map<KeyEntry, Counters>();
  private readonly totals = new Map<string, Counters>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  /** When the keys' states were last read from Redis (local clock). */
  private syncedAt = Number.NEGATIVE_INFINITY;
  /** Keys cooling because Redis said so (a config save clears that). */
  private readonly coolingFromRedis = new Set<KeyEntry>();
  /** Coolings a config save cleared (`key:<hash>:<value>`): a sync racing the clear does not bring them back. */
  private readonly cleared = new Set<string>();

  constructor(
    readonly store: RedisStore,
    private readonly domains: SharedDomainStore,
    private readonly table: KeyTable,
    private readonly hooks: SharedPoolHooks,
  ) {
    domains.attach(
      (domain) => this.redisDomain(domain),
      () => this.fresh(),
    );
    store.listen({
      onLost: (reason) =>
        hooks.logger.warn(
          `lost Redis at ${redactUrl(store.url)} (${reason}): going on with this process's own key pool state; reconnecting`,
        ),
      onRestored: (saltChanged) => {
        hooks.logger.info(`Redis at ${redactUrl(store.url)} is back: the key pool is shared again`);
        void this.republish(saltChanged);
      },
      onTrouble: (kind, detail) =>
        hooks.logger.warn(
          kind === 'slow'
            ? `Redis at ${redactUrl(store.url)} took ${detail} to answer one call (frozen, swapping or far away?): the shared key pool waits on it; the trouble is Redis, not the keys`
            : `Redis at ${redactUrl(store.url)} refused a write (${detail}): the shared key pool cannot record what its processes learn; if it is full, free memory or raise maxmemory; the trouble is Redis, not the keys`,
        ),
    });
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), SYNC_MS);
    this.timer.unref();
  }

  /** Reads the others' findings now (the first sync at open, and the tests'). */
  async tick(): Promise<void> {
    if (this.ticking) return this.ticking;
    this.ticking = this.sync().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  /** A sync when the keys' states are older than FRESH_MS (and Redis is there to read them from). */
  fresh(): Promise<void> | undefined {
    if (!this.store.connected || Date.now() - this.syncedAt <= FRESH_MS) return undefined;
    return this.tick();
  }

  private domainOf(entry: KeyEntry): string {
    return this.store.hash(domainText(entry.config.apiKey, entry.config.group));
  }

  /** The Redis name of a domain of the table (by its name in the domain store). */
  redisDomain(domain: string): string | undefined {
    const entry = this.table.keys.find((key) => key.pacer.name === domain);
    return entry && this.domainOf(entry);
  }

  private keyOf(entry: KeyEntry): string {
    return this.store.hash(entry.config.apiKey);
  }

  private async sync(): Promise<void> {
    const entries = [...this.table.keys];
    const keys = entries.map((entry) => {
      const now = countersOf(entry);
      return {
        hash: this.keyOf(entry),
        deltas: counterDeltas(now, this.flushed.get(entry) ?? emptyCounters()),
        now,
      };
    });
    const reply = await this.store.sync(keys);
    if (!reply) return;
    this.syncedAt = reply.localNow;
    let changed = false;
    entries.forEach((entry, i) => {
      this.flushed.set(entry, keys[i]!.now);
      const remote = parseKey(fieldMap(reply.keys[i]));
      if (remote.cool !== undefined && this.cleared.has(`key:${keys[i]!.hash}:${remote.cool}`))
        delete remote.cool;
      this.totals.set(keys[i]!.hash, remote.counters);
      if (!this.table.keys.includes(entry)) return;
      changed = this.apply(entry, mergeKey(entry, remote, reply.redisNow, reply.localNow)) || changed;
    });
    const domains = new Set(entries.map((entry) => entry.pacer.name));
    await Promise.all([...domains].map((domain) => this.domains.refresh(domain, Date.now())));
    if (changed) this.hooks.dispatch();
  }

  /** Applies what another process found; returns whether anything changed. */
  private apply(entry: KeyEntry, update: ReturnType<typeof mergeKey>): boolean {
    if (!update) return false;
    const from = entry.state;
    const log = this.hooks.logger;
    if (update.state !== undefined) {
      entry.state = update.state;
      entry.reason = update.reason;
      const what = update.state === 'invalid' ? 'rejected' : 'spent';
      log.warn(
        `key ${entry.label} was found ${what} by another process sharing the pool (${update.reason}); it will not be used again`,
      );
      this.hooks.onChange({ key: entry.label, from, to: update.state, reason: update.reason });
    }
    for (const model of update.deny ?? []) {
      entry.denied.add(model);
      log.warn(`key ${entry.label} has no access to model ${model} (found by another process)`);
      this.hooks.onChange({ key: entry.label, from, to: 'denied', model });
    }
    if (update.coolUntil !== undefined) {
      entry.coolingUntil = update.coolUntil;
      entry.state = 'cooling';
      this.coolingFromRedis.add(entry);
      if (from !== 'cooling')
        this.hooks.onChange({ key: entry.label, from, to: 'cooling', until: update.coolUntil });
    }
    return true;
  }

  /** This process found something out about a key: Redis hears it at once. */
  localChange(entry: KeyEntry, change: StateChange, now: number): void {
    const key = this.keyOf(entry);
    if (change.to === 'invalid' && !change.unreachable) {
      void this.store.mark(key, 'invalid', { reason: entry.reason ?? 'rejected' });
    } else if (change.to === 'exhausted') {
      void this.store.mark(key, 'exhausted', { reason: entry.reason ?? 'no quota left' });
    } else if (change.to === 'denied' && change.model !== undefined) {
      void this.store.mark(key, 'denied', { model: change.model });
    } else if (change.to === 'cooling' && change.until !== undefined && change.until > now) {
      // (The domain's pause is in Redis already: its law runs there, `shared-domains.ts`.)
      void this.store.mark(key, 'cooling', { coolMs: change.until - now });
    }
  }

  /**
   * The config was saved: the domains' pauses end in Redis (whoever caused them: a save is the
   * user's word that the keys are good), and so do coolings that came from Redis. A key this
   * process's own answers set cooling stays so until its cooling ends.
   */
  async clearPauses(): Promise<void> {
    const reading = this.ticking?.catch(() => {});
    const now = Date.now();
    // (First, before any other call to Redis: a request after the save finds its domain unpaused.)
    const pacers = new Set(this.table.keys.map((entry) => entry.pacer));
    const unpaused = [...pacers].map((pacer) => pacer.unpause(now));
    for (const entry of this.table.keys) {
      if (this.coolingFromRedis.has(entry) && entry.state === 'cooling') {
        entry.state = 'ready';
        entry.coolingUntil = 0;
      }
    }
    this.coolingFromRedis.clear();
    // A sync on its way may carry the old values: they are remembered as cleared, then deleted.
    await reading;
    const keys = this.table.keys.map((entry) => this.keyOf(entry));
    for (const name of await this.store.uncool(keys)) this.cleared.add(name);
    await Promise.all(unpaused);
  }

  /** After Redis came back (perhaps empty): everything this process knows goes back into it. */
  private async republish(emptied: boolean): Promise<void> {
    // Redis came back empty: this process's counters go in again whole (the others' do too).
    if (emptied) this.flushed.clear();
    const now = Date.now();
    for (const entry of this.table.keys) {
      const key = this.keyOf(entry);
      if (entry.state === 'invalid' && !entry.unreachable)
        await this.store.mark(key, 'invalid', { reason: entry.reason ?? 'rejected' });
      if (entry.state === 'exhausted')
        await this.store.mark(key, 'exhausted', { reason: entry.reason ?? 'no quota left' });
      for (const model of entry.denied) await this.store.mark(key, 'denied', { model });
      if (entry.state === 'cooling' && entry.coolingUntil > now)
        await this.store.mark(key, 'cooling', { coolMs: entry.coolingUntil - now });
    }
  }

  /** Adds to a pool's status: whether Redis is reachable, and per key its counters over every process. */
  describe(status: PoolStatus, entries: readonly KeyEntry[]): void {
    status.shared = {
      url: redactUrl(this.store.url),
      namespace: this.store.namespace,
      connected: this.store.connected,
    };
    entries.forEach((entry, i) => {
      const totals = this.totals.get(this.keyOf(entry));
      const key = status.keys[i];
      if (totals && key) key.shared = totals;
    });
  }

  /** The last counters go to Redis, then the connection is closed. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.ticking;
    await this.sync();
    await this.store.close();
  }
}
