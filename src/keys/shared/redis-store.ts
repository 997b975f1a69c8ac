/**
 * The Redis side of a shared pool: one ioredis connection, the namespace's salt, the keys' scripts
 * (`scripts.ts`) and the rate domains' law (`law`, the domain store's Lua on the same connection).
 * Every call answers even when Redis is gone (`undefined`, or nothing done): the pool then goes on
 * with its own state, and `onLost` / `onRestored` say when that starts and ends.
 */
import { Redis } from 'ioredis';
import { KeybatchError } from '../../errors.js';
import { RedisStore as LawStore } from '../domain/redis-store.js';
import { keyedHash, type Names, names, newSalt, redactUrl, secretKey, TTL_MS } from './naming.js';
import { MARK, SYNC } from './scripts.js';

export interface SyncReply {
  /** Redis's clock and ours when the reply came. */
  redisNow: number;
  localNow: number;
  /** HGETALL of each key, in the order asked. */
  keys: unknown[];
}

export interface RedisStoreEvents {
  /** The connection was lost (once per loss). */
  onLost?(reason: string): void;
  /** It is back, the salt checked again (`saltChanged`: Redis came back empty, every name changed). */
  onRestored?(saltChanged: boolean): void;
  /**
   * Redis is up but unhealthy, said once per kind: `slow` (a call took `detail`, e.g. "1.3 s": frozen,
   * swapping, or far away) or `refused` (a command refused, `detail` its error: full, read-only).
   */
  onTrouble?(kind: 'slow' | 'refused', detail: string): void;
}

interface Commands {
  kbMark(
    key: string,
    state: string,
    reason: string,
    model: string,
    coolMs: number,
    ttl: number,
  ): Promise<number>;
  kbSync(count: number, ...args: Array<string | number>): Promise<unknown[]>;
}

const CONNECT_TIMEOUT_MS = 5000;
/** A command not answered by then counts as Redis lost for that decision (the pool decides alone). */
const COMMAND_TIMEOUT_MS = 2000;
/**
 * A call slower than this is said once: four sync periods (250 ms each), so the pool waits on Redis
 * far more than it shares; a healthy Redis answers in a millisecond (a few over a network), and a
 * busy process's event-loop delays stay well under a second.
 */
const SLOW_CALL_MS = 1000;
/** Errors by which a reachable Redis refuses a command (full, a read-only replica, a failed save, busy). */
const REFUSALS = /^(OOM|READONLY|MISCONF|BUSY|NOREPLICAS)\b/;

function reasonOf(error: unknown): string {
  const { code, message } = error as { code?: unknown; message?: unknown };
  return typeof code === 'string' ? code : String(message ?? error);
}

export class RedisStore {
  readonly url: string;
  readonly namespace: string;
  /** The rate domains' law, in Redis on this connection (on Redis's clock). */
  readonly law: LawStore;
  private readonly client: Redis & Commands;
  private readonly names: Names;
  private salt = '';
  /** The HMAC key derived from `KEYBATCH_SECRET`; undefined: the stored salt is the HMAC key. */
  private readonly secret: string | undefined;
  private readonly hashes = new Map<string, string>();
  private up = false;
  private closed = false;
  private lives = 0;
  private events: RedisStoreEvents = {};

  private constructor(url: string, namespace: string, secret: string | undefined) {
    this.url = url;
    this.namespace = namespace;
    this.secret = secret ? secretKey(secret, namespace) : undefined;
    this.names = names(namespace);
    this.client = new Redis(url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: CONNECT_TIMEOUT_MS,
      commandTimeout: COMMAND_TIMEOUT_MS,
      retryStrategy: (times) => Math.min(100 * times, 1000),
    }) as Redis & Commands;
    this.client.defineCommand('kbMark', { numberOfKeys: 1, lua: MARK });
    this.law = new LawStore(this.client, { namespace });
    this.client.defineCommand('kbSync', { lua: SYNC });
  }

  /**
   * Connects and reads (or creates) the namespace's salt; `REDIS_UNREACHABLE` when it cannot.
   * `secret` (`KEYBATCH_SECRET`): the keys' hashes are keyed by it, and the stored salt only marks
   * a Redis that came back empty.
   */
  static async open(url: string, namespace: string, secret?: string): Promise<RedisStore> {
    const store = new RedisStore(url, namespace, secret);
    let why = '';
    const onError = (error: unknown) => {
      why ||= reasonOf(error);
    };
    store.client.on('error', onError);
    try {
      await store.client.connect();
      await store.loadSalt();
    } catch (error) {
      store.client.disconnect();
      throw new KeybatchError(
        'REDIS_UNREACHABLE',
        `cannot reach Redis at ${redactUrl(url)} for the shared key pool (${why || reasonOf(error)}): start it (redis-server) or fix --redis / KEYBATCH_REDIS`,
        { cause: error },
      );
    }
    store.client.off('error', onError);
    store.up = true;
    store.client.on('error', () => {});
    store.client.on('close', () => store.lost('connection closed'));
    store.client.on('ready', () => void store.restored());
    return store;
  }

  /** Where the store's events go (the pool that uses it). */
  private readonly troubled = new Set<'slow' | 'refused'>();

  /** Runs one call to Redis, saying once (per kind) when it was slow or refused; rethrows. */
  async run<T>(call: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await call();
    } catch (error) {
      const message = String((error as { message?: unknown }).message ?? error).split('\n')[0] ?? '';
      if (REFUSALS.test(message)) this.trouble('refused', message);
      throw error;
    } finally {
      const ms = performance.now() - started;
      if (ms >= SLOW_CALL_MS && this.up) this.trouble('slow', `${(ms / 1000).toFixed(1)} s`);
    }
  }

  private trouble(kind: 'slow' | 'refused', detail: string): void {
    if (this.troubled.has(kind)) return;
    this.troubled.add(kind);
    this.events.onTrouble?.(kind, detail);
  }

  listen(events: RedisStoreEvents): void {
    this.events = events;
  }

  get connected(): boolean {
    return this.up;
  }

  /** How many times Redis came back (perhaps empty) since the pool opened. */
  get epoch(): number {
    return this.lives;
  }

  private lost(reason: string): void {
    if (!this.up || this.closed) return;
    this.up = false;
    this.events.onLost?.(reason);
  }

  private async restored(): Promise<void> {
    if (this.up || this.closed) return;
    const before = this.salt;
    try {
      await this.loadSalt();
    } catch {
      return; // Lost again: the next `ready` tries again.
    }
    this.up = true;
    this.lives += 1;
    this.events.onRestored?.(before !== this.salt);
  }

  /** The salt, created once per namespace (SET NX: the first process wins, the others read it). */
  private async loadSalt(): Promise<void> {
    await this.client.set(this.names.salt, newSalt(), 'PX', TTL_MS.salt, 'NX');
    const salt = await this.client.get(this.names.salt);
    if (!salt) throw new Error('the salt vanished');
    if (salt !== this.salt) this.hashes.clear();
    this.salt = salt;
  }

  /** The Redis name of a text (an API key, a rate domain): its keyed hash. */
  hash(text: string): string {
    let hash = this.hashes.get(text);
    if (hash === undefined) {
      hash = keyedHash(this.secret ?? this.salt, text);
      this.hashes.set(text, hash);
    }
    return hash;
  }

  keyName(hash: string): string {
    return this.names.key(hash);
  }

  /**
   * Deletes the keys' cooling from Redis (a config save clears it); returns what it deleted as
   * `key:<hash>:<value>`.
   */
  async uncool(keys: readonly string[]): Promise<string[]> {
    if (!this.up) return [];
    const batch = this.client.multi();
    for (const key of keys) batch.hget(this.names.key(key), 'cool');
    for (const key of keys) batch.hdel(this.names.key(key), 'cool');
    const replies = await batch.exec().catch(() => null);
    if (!replies) return [];
    return keys.flatMap((hash, i) => {
      const value = replies[i]?.[1];
      return typeof value === 'string' ? [`key:${hash}:${value}`] : [];
    });
  }

  /** Records a key's new state: `invalid` / `exhausted` (with a reason naming no key), `denied` a model, `cooling` for `coolMs`. */
  async mark(
    key: string,
    state: 'invalid' | 'exhausted' | 'denied' | 'cooling',
    detail: { reason?: string; model?: string; coolMs?: number } = {},
  ): Promise<void> {
    if (!this.up) return;
    await this.run(() =>
      this.client.kbMark(
        this.names.key(key),
        state,
        detail.reason ?? '',
        detail.model ?? '',
        Math.ceil(detail.coolMs ?? 0),
        TTL_MS.key,
      ),
    ).catch(() => {});
  }

  /** One sync tick (see SYNC); undefined when Redis is not reachable. */
  async sync(keys: ReadonlyArray<{ hash: string; deltas: string }>): Promise<SyncReply | undefined> {
    if (!this.up) return undefined;
    const names = [this.names.salt, ...keys.map((k) => this.names.key(k.hash))];
    const args = [keys.length, TTL_MS.key, TTL_MS.salt, ...keys.map((k) => k.deltas)];
    try {
      const reply = await this.run(() => this.client.kbSync(names.length, ...names, ...args));
      const localNow = Date.now();
      const salt = reply[1];
      if (typeof salt !== 'string' || salt !== this.salt) {
        // Redis came back empty (or the salt expired): take the namespace's salt again.
        await this.loadSalt();
        this.lives += 1;
        this.events.onRestored?.(true);
        return undefined;
      }
      return { redisNow: Number(reply[0]), localNow, keys: reply.slice(2) };
    } catch {
      return undefined;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.up = false;
    await this.client.quit().catch(() => this.client.disconnect());
  }
}
