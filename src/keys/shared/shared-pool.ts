/**
 * What a KeyPool does with a RedisStore: reserves each send's slot in its domain's shared schedule,
 * tells Redis what its answers showed (a key rejected, spent, denied a model, cooling), and every
 * `SYNC_MS` adds its counters and reads back what the other processes found, merging it in
 * (`merge.ts`). Polling, not pub/sub: one connection, and the same tick that shares a change also
 * re-syncs after Redis was lost, with nothing to miss in between; 250 ms is well inside the 1 s
 * a change may take to reach every process.
 */
import type { Logger } from '../../logger.js';
import type { KeyEntry, KeyTable, StateChange } from '../key-table.js';
import type { PacingController } from '../pacing/controller.js';
import type { LeaseResult, PoolStatus } from '../types.js';
import {
  type Counters,
  counterDeltas,
  emptyCounters,
  fieldMap,
  mergeKey,
  parseKey,
  parseLearned,
  shareableLimits,
} from './merge.js';
import { domainText, redactUrl } from './naming.js';
import { clampWait, type RedisStore, type Slot } from './redis-store.js';

/** How often a process adds its counters and reads back the others' findings. */
export const SYNC_MS = 250;
/** How far ahead a slot may be reserved; beyond it the domain waits locally and asks again. */
export const MAX_AHEAD_MS = 2000;
/**
 * Refusals of requests sent this soon after a domain's last counted loss are the same loss event:
 * the burst in flight when a limit is reached comes back within a round trip of its first refusal.
 * (Longer counts a process's next refusal, at its new rate, as the same event too: in a 4-process
 * model of a spent window, 300 ms left 1.4% refused where 100 ms left 1.1%, and buckets did the same.)
 */
export const LOSS_DEDUP_MS = 100;
/**
 * A slot that waited this long for its start asks Redis again before it goes (`recheck`): another
 * process may have paused the domain meanwhile, and the next sync may be 250 ms away.
 */
export const RECHECK_AFTER_MS = 50;
/** While a domain's probe is out, how soon another process asks again. */
export const PROBE_RETRY_MS = 250;
/**
 * How long after a process ended a domain's slow start its cut is handed on (RESERVE's reply, a
 * sync): well past a sync, so every process on the domain hears of it, and short enough that a
 * process starting later is not held to an old finding.
 */
export const CUT_FRESH_MS = 2000;

/**
 * How long a domain's probe (the one send after a loss pause, see `scripts.ts`) holds every other
 * send back before a new one may go: a few round trips, 1–10 s (its process may have died).
 */
export function probeWaitMs(latencyMs: number | undefined): number {
  return Math.min(10_000, Math.max(1000, 4 * (latencyMs ?? 0)));
}

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
  /** Per domain: slots granted in all at the last look, and this process's since then. */
  private readonly slots = new Map<string, { seen: number; own: number }>();
  /** Per key, its sends in flight on a shared slot: the slot's start (Redis's clock), and whether it is the probe. */
  private readonly sends = new Map<KeyEntry, Map<number, { at: number; probe: boolean }>>();
  /** Per domain, its run of losses as last heard (a LOSS reply, a sync). */
  private readonly runs = new Map<string, { run: number; lossAt: number }>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  /** Keys cooling because Redis said so (a config save clears that). */
  private readonly coolingFromRedis = new Set<KeyEntry>();
  /** Redis pauses a config save cleared (`<hash>:<value>`): a sync racing the clear does not bring them back. */
  private readonly cleared = new Set<string>();

  constructor(
    readonly store: RedisStore,
    private readonly table: KeyTable,
    private readonly hooks: SharedPoolHooks,
  ) {
    store.listen({
      onLost: (reason) =>
        hooks.logger.warn(
          `lost Redis at ${redactUrl(store.url)} (${reason}): going on with this process's own key pool state; reconnecting`,
        ),
      onRestored: (saltChanged) => {
        hooks.logger.info(`Redis at ${redactUrl(store.url)} is back: the key pool is shared again`);
        void this.republish(saltChanged);
      },
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

  private domainOf(entry: KeyEntry): string {
    return this.store.hash(domainText(entry.config.apiKey, entry.config.group));
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
    const pacers = new Map<string, PacingController>();
    for (const entry of entries) pacers.set(this.domainOf(entry), entry.pacer);
    const domains = [...pacers].map(([hash, pacer]) => {
      const limits = shareableLimits(pacer.sharedLimits());
      return { hash, learned: limits ? JSON.stringify(limits) : '' };
    });
    const reply = await this.store.sync(keys, domains);
    if (!reply) return;
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
    domains.forEach((domain, i) => {
      const fields = fieldMap(reply.domains[i]);
      const pacer = pacers.get(domain.hash)!;
      const learned = parseLearned(fields.get('learned'));
      if (learned && pacer.adopt(reply.localNow, learned)) changed = true;
      const total = Number(fields.get('slots') ?? 0);
      const seen = this.slots.get(domain.hash);
      if (seen && total > seen.seen) pacer.noteSharedSends(total - seen.seen - seen.own);
      this.slots.set(domain.hash, { seen: total, own: 0 });
      this.runs.set(domain.hash, {
        run: Number(fields.get('run') ?? 0),
        lossAt: Number(fields.get('lossAt') ?? 0),
      });
      const cut = Number(fields.get('cut') ?? 0);
      if (cut > 0 && reply.redisNow - Number(fields.get('cutAt') ?? 0) < CUT_FRESH_MS)
        changed = pacer.adoptCut(reply.localNow, cut) || changed;
      const paused = Number(fields.get('paused') ?? 0);
      if (paused > reply.redisNow && !this.cleared.has(`domain:${domain.hash}:${paused}`))
        pacer.defer(reply.localNow + clampWait(paused - reply.redisNow));
    });
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

  /** Reserves the slot of a send of `tokens` on the entry's domain. */
  async reserve(entry: KeyEntry, tokens: number): Promise<Slot & { cost: number; domain: string }> {
    const domain = this.domainOf(entry);
    const cost = entry.pacer.slotCost(tokens);
    const probeMs = probeWaitMs(entry.pacer.latencyMs());
    const slot = await this.store.reserve(
      domain,
      cost,
      Math.max(MAX_AHEAD_MS, 2 * cost),
      probeMs,
      PROBE_RETRY_MS,
      CUT_FRESH_MS,
    );
    // Another process just ended the domain's slow start: this one leaves it too.
    if ('cut' in slot && slot.cut !== undefined) entry.pacer.adoptCut(Date.now(), slot.cut);
    if (slot.granted && !('local' in slot)) {
      const seen = this.slots.get(domain);
      if (seen) seen.own += 1;
    }
    return { ...slot, cost, domain };
  }

  /**
   * Before a slot reserved a while ago goes: a pause since (another process's loss) defers the
   * entry's pacer, and a fresh cut ends its slow start, so the slot waits again (`admission.ts`).
   */
  async recheck(entry: KeyEntry): Promise<void> {
    const reply = await this.store.check(this.domainOf(entry), CUT_FRESH_MS);
    if (!reply) return;
    if (reply.pausedMs > 0) entry.pacer.defer(Date.now() + reply.pausedMs);
    if (reply.cut !== undefined) entry.pacer.adoptCut(Date.now(), reply.cut);
  }

  /**
   * The entry's send `seq` goes out on a slot of the domain's schedule: its start (`at`, Redis's
   * clock), whether it is the probe, and its number in the domain (for observed pacing).
   */
  sent(entry: KeyEntry, seq: number, slot: { at: number; probe: boolean; slots: number }): void {
    const { at, probe } = slot;
    entry.pacer.noteSlot(seq, slot.slots);
    const sends = this.sends.get(entry) ?? new Map<number, { at: number; probe: boolean }>();
    this.sends.set(entry, sends);
    sends.set(seq, { at, probe });
  }

  /**
   * An answer was settled. A new loss event of observed pacing goes to the domain's run of losses
   * (`LOSS`: from the second, every process pauses, and one probe goes); a request sent after the
   * last loss and served ends the run (`SERVED`), and a served probe lets every process send again.
   */
  settled(entry: KeyEntry, seq: number, result: LeaseResult): void {
    const sends = this.sends.get(entry);
    const send = sends?.get(seq);
    sends?.delete(seq);
    const loss = entry.pacer.takeLoss();
    if (!send) return;
    const domain = this.domainOf(entry);
    const known = this.runs.get(domain);
    if (loss) {
      void this.store.loss(domain, send.at, loss, send.probe, LOSS_DEDUP_MS).then((reply) => {
        if (!reply) return;
        this.runs.set(domain, { run: reply.run, lossAt: reply.lossAt });
        if (reply.pausedMs > 0) {
          entry.pacer.defer(Date.now() + reply.pausedMs);
          this.hooks.dispatch();
        }
      });
    } else if (
      result.outcome === 'ok' &&
      (send.probe || (known && known.run > 0 && send.at > known.lossAt))
    ) {
      void this.store.served(domain, send.at, send.probe);
      if (known) known.run = 0;
    }
  }

  /** A slot reserved and not used (the request was cancelled first). */
  refund(slot: Slot & { cost: number; domain: string }): void {
    if (slot.granted && 'at' in slot) void this.store.refund(slot.domain, slot.at, slot.cost, slot.probe);
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
      void this.store.mark(key, 'cooling', { coolMs: change.until - now });
      void this.store.pause(this.domainOf(entry), change.until - now);
    }
  }

  /**
   * The config was saved: pauses that came from Redis end, here and in Redis (whoever wrote them:
   * a save is the user's word that the keys are good). Pauses this process's own answers caused stay.
   */
  async clearPauses(): Promise<void> {
    const reading = this.ticking?.catch(() => {});
    const domains = new Set<string>();
    for (const entry of this.table.keys) {
      domains.add(this.domainOf(entry));
      entry.pacer.clearDeferred();
      if (this.coolingFromRedis.has(entry) && entry.state === 'cooling') {
        entry.state = 'ready';
        entry.coolingUntil = 0;
      }
    }
    this.coolingFromRedis.clear();
    // A sync on its way may carry the old values: they are remembered as cleared, then deleted.
    await reading;
    const keys = this.table.keys.map((entry) => this.keyOf(entry));
    for (const name of await this.store.unpause([...domains], keys)) this.cleared.add(name);
  }

  /** After Redis came back (perhaps empty): everything this process knows goes back into it. */
  private async republish(emptied: boolean): Promise<void> {
    // Redis came back empty: this process's counters go in again whole (the others' do too).
    if (emptied) this.flushed.clear();
    this.slots.clear();
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
