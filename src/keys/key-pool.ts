/**
 * KeyPool: the one place keys live. Leases a usable key per request attempt, records what the API
 * answered, paces each rate domain through its store (`domain/store.ts`: the law in memory, or
 * shared through Redis), and when no key is usable waits (notifying), watching config.json for an
 * edit that fixes it.
 */
import { EventEmitter } from 'node:events';
import { access } from 'node:fs/promises';
import { AbortError, ConfigError, NoUsableKeyError } from '../errors.js';
import { consoleLogger, type Logger } from '../logger.js';
import { Notifier, type NotifyEvent } from '../notify/index.js';
import { addCosts } from '../tokens/cost.js';
import {
  type ConfigFile,
  loadConfigFile,
  type ParsedConfig,
  type PoolConfig,
  resolveConfigSource,
} from './config.js';
import { type DomainStore, MemoryStore, type Reservation } from './domain/store.js';
import { groupCosts } from './group-status.js';
import { type KeyEntry, KeyTable, type StateChange } from './key-table.js';
import { isPending, whenReady } from './pacing/domain-pacer.js';
import { DEFAULT_BASE_URL } from './pool-fetch.js';
import { blockedLine, stateChangeLine, stopLine } from './pool-lines.js';
import type { Granted, KeyPoolOptions, PoolEvents, Waiter } from './pool-options.js';
import { redactKey, scrubSecrets } from './redact.js';
import type { SharedOptions } from './shared/open.js';
import type { SharedPool } from './shared/shared-pool.js';
import { judgeWait, timerDelay } from './stops.js';
import type { KeyBroker, Lease, LeaseRequest, LeaseResult, PoolStatus } from './types.js';
import { ConfigWatcher } from './watch.js';

export type { KeyPoolOptions, PoolEvents } from './pool-options.js';

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/**
 * Whether the pool is to be shared through Redis (`shared`, or `KEYBATCH_REDIS` unless
 * `shared: false`): only then are the Redis modules loaded, so `import 'keybatch'` loads no Redis
 * client. `connectShared` validates what is asked.
 */
function sharedAsked(shared: SharedOptions | false | undefined, env: NodeJS.ProcessEnv): boolean {
  return shared !== false && (shared !== undefined || Boolean(env['KEYBATCH_REDIS']));
}

export class KeyPool extends EventEmitter<PoolEvents> implements KeyBroker {
  /** The config file behind the pool, if it came from one. */
  readonly configPath: string | undefined;
  private readonly table: KeyTable;
  private readonly waiters: Waiter[] = [];
  private readonly leases = new Map<number, Granted>();
  private readonly logger: Logger;
  private readonly waitTimeoutMs: number;
  private readonly notifier: Notifier | undefined;
  private readonly secrets = new Set<string>();
  private watcher: ConfigWatcher | undefined;
  private nextLease = 1;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private arms = 0;
  private blockedSince: number | undefined;
  private closed = false;
  private shared: SharedPool | undefined;
  /** Waiters whose reservation an asynchronous store has not answered yet (close() ends them). */
  private readonly asking = new Set<Waiter>();

  /** Opens a pool from a config.json path, a parsed config object, or (none) the defaults. */
  static async open(config?: string | ConfigFile, options: KeyPoolOptions = {}): Promise<KeyPool> {
    const env = options.env ?? process.env;
    const source = await resolveConfigSource(config, env, exists);
    const parsed = source.parsed ?? (await loadConfigFile(source.path!));
    const sharing = sharedAsked(options.shared, env) ? await import('./shared/open.js') : undefined;
    const redis = await sharing?.connectShared(options.shared, env);
    let pool: KeyPool | undefined;
    try {
      const slots = redis && sharing?.sharedStore(redis, () => pool?.shared);
      pool = new KeyPool(parsed, source.path, options, slots || new MemoryStore());
      if (redis && sharing && slots) {
        const self = pool;
        self.shared = await sharing.openShared(redis, slots, self.table, {
          logger: self.logger,
          onChange: (change) => self.emit('key-state', change),
          dispatch: () => self.dispatch(),
        });
      }
      if (source.path && options.watch !== false) await pool.watch(source.path, parsed);
    } catch (error) {
      if (pool) await pool.close();
      await redis?.close();
      throw error;
    }
    return pool;
  }

  private constructor(
    parsed: ParsedConfig,
    configPath: string | undefined,
    options: KeyPoolOptions,
    store: DomainStore,
  ) {
    super();
    this.configPath = configPath;
    const env = options.env ?? process.env;
    this.table = new KeyTable(Date.now, env['OPENAI_BASE_URL'] ?? DEFAULT_BASE_URL, store);
    this.logger = options.logger ?? consoleLogger();
    this.waitTimeoutMs = options.waitTimeoutMs ?? Number.POSITIVE_INFINITY;
    if (!(this.waitTimeoutMs >= 0)) {
      throw new ConfigError(`waitTimeoutMs: expected a number >= 0, got ${String(options.waitTimeoutMs)}`);
    }
    const notify = options.notify ?? true;
    this.notifier =
      notify === false
        ? undefined
        : notify === true
          ? new Notifier(parsed.config.notify, {
              logger: this.logger,
              scrub: (text) => this.scrub(text),
              env: options.env ?? process.env,
            })
          : notify;
    this.apply(parsed, false);
  }

  /** The base URL of each key (no secret): which providers the pool reaches (row identities' namespace). */
  baseUrls(): string[] {
    return this.table.keys.map((entry) => this.table.baseUrlOf(entry));
  }

  /** Replaces every full key in `text` by its redacted form. */
  scrub(text: string): string {
    return scrubSecrets(text, this.secrets);
  }

  private apply(parsed: ParsedConfig, reload: boolean): void {
    for (const warning of parsed.warnings) this.logger.warn(warning);
    for (const key of parsed.config.keys) this.secrets.add(key.apiKey);
    const diff = this.table.apply(parsed.config);
    if (reload) {
      this.notifier?.update(parsed.config.notify);
      const parts = [
        diff.added.length ? `added ${diff.added.join(', ')}` : '',
        diff.removed.length ? `removed ${diff.removed.join(', ')}` : '',
        diff.changed.length ? `changed ${diff.changed.join(', ')}` : '',
        diff.retried.length ? `retrying unreachable ${diff.retried.join(', ')}` : '',
      ].filter(Boolean);
      this.logger.info(`${this.configPath}: reloaded (${parts.join('; ') || 'no key changes'})`);
      this.emit('reloaded', diff);
      this.clearSharedPauses();
      this.dispatch();
    }
  }

  /** Applies a new config now (what a watched edit does). */
  reload(config: PoolConfig | ParsedConfig): void {
    this.apply('config' in config ? config : { config, warnings: [] }, true);
  }

  private async watch(path: string, initial: ParsedConfig): Promise<void> {
    this.watcher = new ConfigWatcher(path, initial, {
      onConfig: (parsed) => this.apply(parsed, true),
      onProblem: (error) => {
        const waiting = this.blockedSince !== undefined ? ' (still waiting)' : '';
        this.logger.warn(`${this.scrub(error.message)} — keeping the last good config${waiting}`);
        if (this.listenerCount('error') > 0) this.emit('error', error);
      },
      onUnchanged: () => {
        // Saved as it was: pauses from Redis end; keys out only for being unreachable get another
        // try (the server may be fixed).
        this.clearSharedPauses();
        const retried = this.table.retryUnreachable();
        if (retried.length === 0) return;
        this.logger.info(`${this.configPath}: saved again (retrying unreachable ${retried.join(', ')})`);
        this.dispatch();
      },
    });
    await this.watcher.ready();
  }

  /** A config save: pauses that came from Redis end (a shared pool), and waiting requests go again. */
  private clearSharedPauses(): void {
    if (!this.shared) return;
    void this.shared.clearPauses().then(() => this.dispatch());
    this.dispatch();
  }

  /** Leases a usable key for one attempt; waits while none is usable. */
  acquire(request: LeaseRequest, signal?: AbortSignal): Promise<Lease> {
    if (this.closed) return Promise.reject(new AbortError('the key pool is closed'));
    if (signal?.aborted) return Promise.reject(new AbortError());
    if (this.waiters.length === 0 && this.blockedSince === undefined) {
      // Nobody is queued and a key may be free now: lease it at once, without a waiter, when its
      // domain's store answers at once (in memory) and says go.
      const now = Date.now();
      for (const change of this.table.thaw(now)) this.stateChanged(change);
      const pick = this.table.pick(request, now);
      if (pick.kind === 'key') {
        const entry = this.table.keys[pick.index]!;
        const reservation = this.table.reserve(entry, request.tokens, now);
        if (isPending(reservation)) return this.waitReservation(request, signal, entry, reservation);
        if (reservation.seq !== undefined) return Promise.resolve(this.lease(entry, reservation.seq, now));
      }
    }
    return new Promise<Lease>((resolve, reject) => {
      const waiter: Waiter = { request, resolve, reject, signal, onAbort: undefined };
      if (signal) {
        waiter.onAbort = () => {
          this.removeWaiter(waiter);
          reject(new AbortError());
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.waiters.push(waiter);
      this.dispatch();
    });
  }

  /** Reports how the attempt on a lease ended. */
  release(lease: Lease, result: LeaseResult): void {
    const granted = this.leases.get(lease.leaseId);
    if (!granted) return;
    this.leases.delete(lease.leaseId);
    const now = Date.now();
    const settled = this.table.settle(granted.entry, granted.seq, result, now, granted.grantedAt);
    const after = whenReady(settled, (change) => {
      if (change) {
        this.shared?.localChange(granted.entry, change, Date.now());
        this.stateChanged(change);
      }
      this.dispatch();
    });
    if (isPending(after)) after.catch((error: unknown) => this.storeFailed(error));
  }

  /** A store call failed (a Redis store lost mid-call): said once per failure; the pool goes on. */
  private storeFailed(error: unknown): void {
    this.logger.warn(
      `rate domain store: ${this.scrub(error instanceof Error ? error.message : String(error))}`,
    );
    this.dispatch();
  }

  private stateChanged(change: StateChange): void {
    const line = stateChangeLine(change, this.configPath);
    this.logger[line.level](this.scrub(line.text));
    this.emit('key-state', change);
  }

  private removeWaiter(waiter: Waiter): void {
    const at = this.waiters.indexOf(waiter);
    if (at >= 0) this.waiters.splice(at, 1);
    if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort);
  }

  /**
   * Serves waiters in order; notices blocking (no key without a config edit, or none for longer
   * than `blockedThreshold`); stops waits that cannot end within the wait timeout; arranges a
   * timer for the soonest key or the end of the wait.
   */
  private dispatch(): void {
    if (this.closed) return;
    const now = Date.now();
    for (const change of this.table.thaw(now)) this.stateChanged(change);
    let wakeAt = Number.POSITIVE_INFINITY;
    let blocked: { request: LeaseRequest; until: number; giveUp: boolean } | undefined;
    const stops: Array<{ waiter: Waiter; until: number }> = [];
    let served = false;
    for (let i = 0; i < this.waiters.length; ) {
      const waiter = this.waiters[i]!;
      const pick = this.table.pick(waiter.request, now);
      if (pick.kind === 'key') {
        const entry = this.table.keys[pick.index]!;
        const reservation = this.table.reserve(entry, waiter.request.tokens, now);
        // Refused by the domain's store: its wait now shows in the key's `readyAt`; pick again.
        if (!isPending(reservation) && reservation.seq === undefined) continue;
        this.removeWaiter(waiter);
        served = true;
        if (isPending(reservation)) this.asked(waiter, entry, reservation);
        else waiter.resolve(this.lease(entry, reservation.seq!, now));
        continue;
      }
      if (pick.kind === 'none' && this.table.modelUnavailable(waiter.request.model)) {
        this.removeWaiter(waiter);
        waiter.reject(
          new NoUsableKeyError(
            `no key can serve model ${waiter.request.model} (${this.table.describe(waiter.request.model)})`,
            { code: 'MODEL_UNAVAILABLE' },
          ),
        );
        continue;
      }
      const verdict = judgeWait(pick, now, this.blockedSince, this.waitTimeoutMs);
      if (verdict.blocked)
        blocked ??= { request: waiter.request, until: verdict.until, giveUp: verdict.giveUp };
      if (verdict.giveUp) stops.push({ waiter, until: verdict.until });
      wakeAt = Math.min(wakeAt, verdict.wakeAt);
      i += 1;
    }
    if (served && this.blockedSince !== undefined && blocked === undefined) this.unblock(now);
    if (blocked !== undefined) this.block(blocked, now);
    for (const { waiter, until } of stops) {
      this.removeWaiter(waiter);
      waiter.reject(this.stopError(waiter.request, until, now));
    }
    this.schedule(wakeAt, now);
  }

  /** A lease whose reservation a store answers later: a waiter of its own until then. */
  private waitReservation(
    request: LeaseRequest,
    signal: AbortSignal | undefined,
    entry: KeyEntry,
    reservation: Promise<Reservation>,
  ): Promise<Lease> {
    return new Promise<Lease>((resolve, reject) => {
      this.asked({ request, resolve, reject, signal, onAbort: undefined }, entry, reservation);
    });
  }

  /**
   * The store answers the waiter's reservation later: a send leases the key, unless the waiter was
   * aborted or the pool closed meanwhile (the send is cancelled in the store); a wait puts the
   * waiter back at the front of the queue, the domain's wait known to key selection.
   */
  private asked(waiter: Waiter, entry: KeyEntry, reservation: Promise<Reservation>): void {
    this.asking.add(waiter);
    const onAbort = () => {
      if (!this.asking.delete(waiter)) return;
      waiter.reject(new AbortError());
    };
    waiter.signal?.addEventListener('abort', onAbort, { once: true });
    const done = (answer: Reservation | undefined) => {
      waiter.signal?.removeEventListener('abort', onAbort);
      const waiting = this.asking.delete(waiter);
      // A key found out while the store answered (rejected, spent, denied the model: here or in
      // another process) gets no request: the send is cancelled and the request picks again.
      const found = waiting && !this.table.usable(entry, waiter.request);
      if (answer?.seq !== undefined) {
        if (waiting && !this.closed && !found) {
          waiter.resolve(this.lease(entry, answer.seq, Date.now()));
          return;
        }
        entry.pacer.cancel(answer.seq);
      }
      if (!waiting) return;
      if (waiter.signal?.aborted) {
        waiter.reject(new AbortError());
        return;
      }
      if (waiter.signal && !waiter.onAbort)
        waiter.onAbort = () => {
          this.removeWaiter(waiter);
          waiter.reject(new AbortError());
        };
      this.waiters.unshift(waiter);
      if (waiter.onAbort) waiter.signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.dispatch();
    };
    reservation.then(done, (error: unknown) => {
      this.storeFailed(error);
      done(undefined);
    });
  }

  private lease(entry: KeyEntry, seq: number, now: number): Lease {
    this.table.leased(entry);
    const lease: Lease = {
      leaseId: this.nextLease++,
      keyId: entry.id,
      label: entry.label,
      apiKey: entry.config.apiKey,
      baseURL: entry.config.baseUrl,
      organization: entry.config.organization,
    };
    this.leases.set(lease.leaseId, { entry, seq, grantedAt: now });
    return lease;
  }

  /** Says once that the pool is blocked: one line naming until when and the config file, a notification, 'blocked'. */
  private block(blocked: { request: LeaseRequest; until: number; giveUp: boolean }, now: number): void {
    if (this.blockedSince !== undefined) return;
    this.blockedSince = now;
    const message = blockedLine({
      until: blocked.until,
      giveUp: blocked.giveUp,
      waitTimeoutMs: this.waitTimeoutMs,
      configPath: this.configPath,
      why: this.table.describe(blocked.request.model, now, blocked.request.organization),
    });
    this.logger.warn(message);
    this.notifier?.startBlocked(message);
    this.emit('blocked', { message, since: new Date(now) });
  }

  private unblock(now: number): void {
    const blockedMs = now - (this.blockedSince ?? now);
    this.blockedSince = undefined;
    this.logger.info(`a key is usable again after ${Math.round(blockedMs / 1000)} s: resuming`);
    this.notifier?.stopBlocked(`resumed after ${Math.round(blockedMs / 1000)} s blocked`);
    this.emit('resumed', { blockedMs });
  }

  /** The error of a wait that cannot end within the wait timeout (`until`: when the soonest key is usable). */
  private stopError(request: LeaseRequest, until: number, now: number): NoUsableKeyError {
    return new NoUsableKeyError(
      stopLine(this.waitTimeoutMs, until, this.table.describe(request.model, now, request.organization)),
    );
  }

  /** Arms the one wake-up timer for `at`, unless one fires sooner; never longer than a Node.js timer takes. */
  private schedule(at: number, now: number): void {
    if (!Number.isFinite(at) || this.waiters.length === 0) return;
    if (this.timer && this.timerAt <= at) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.arms += 1;
    // Past MAX_TIMER_MS it fires early, finds the wait still on, and is armed again for the rest.
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Number.POSITIVE_INFINITY;
        this.dispatch();
      },
      timerDelay(at, now),
    );
  }

  /**
   * How many times the pool armed its wake-up timer (a busy loop shows as a count growing without
   * end). For tests and diagnostics; changes nothing.
   * @internal
   */
  get timersArmed(): number {
    return this.arms;
  }

  /** Sends a notification to the pool's targets (config.json `notify`, `LARK_HOOK`); never rejects. */
  notify(event: NotifyEvent): Promise<void> {
    return this.notifier?.send(event) ?? Promise.resolve();
  }

  /** Whether requests are waiting because no key is usable. */
  get blocked(): boolean {
    return this.blockedSince !== undefined;
  }

  /** Whether some key's config has `tpm` (the pool's clients then estimate tokens with the real tokenizer). */
  tokenLimited(): boolean {
    return this.table.tokenLimited;
  }

  /** Per key, redacted: state, cooling time, counters, and its rate domain's pacer (`pacing`). */
  status(): PoolStatus {
    const keys = this.table.status(Date.now());
    for (const key of keys) if (key.reason !== undefined) key.reason = this.scrub(key.reason);
    const status: PoolStatus = {
      keys,
      cost: addCosts(keys.flatMap((key) => (key.cost ? [key.cost] : []))),
      blocked: this.blocked,
    };
    const groups = groupCosts(keys);
    if (groups.length > 0) status.groups = groups;
    if (this.configPath) status.configPath = this.configPath;
    this.shared?.describe(status, this.table.keys);
    return status;
  }

  /** `sk-…abcd` or the key's name, for a full key this pool holds. */
  label(apiKey: string): string {
    return this.table.keys.find((entry) => entry.config.apiKey === apiKey)?.label ?? redactKey(apiKey);
  }

  /** Stops the watcher and timers; pending lease requests fail with `ABORTED`. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    for (const waiter of [...this.waiters]) {
      this.removeWaiter(waiter);
      waiter.reject(new AbortError('the key pool was closed'));
    }
    for (const waiter of [...this.asking]) {
      this.asking.delete(waiter);
      waiter.reject(new AbortError('the key pool was closed'));
    }
    await Promise.all([this.watcher?.close(), this.notifier?.close(), this.shared?.close()]);
  }
}
