/**
 * Opening a pool's shared side: the `shared` option (or `KEYBATCH_REDIS`) checked, Redis reached,
 * the domain store over it, the first sync done.
 */
import { ConfigError } from '../../errors.js';
import type { KeyTable } from '../key-table.js';
import { checkNamespace, DEFAULT_NAMESPACE } from './naming.js';
import { RedisStore } from './redis-store.js';
import { SharedDomainStore } from './shared-domains.js';
import { SharedPool, type SharedPoolHooks } from './shared-pool.js';

export interface SharedOptions {
  /** `redis://[user:password@]host[:port][/db]` (or `rediss://` for TLS). */
  url: string;
  /**
   * Processes share a pool when they use the same Redis and namespace (e.g. one per team or
   * environment). Letters, digits, `-`, `_`, `.`.
   * @default 'default'
   */
  namespace?: string;
}

/** Redis for a shared pool (reached, its salt read), or undefined when the pool is not shared. */
export async function connectShared(
  options: SharedOptions | false | undefined,
  env: NodeJS.ProcessEnv,
): Promise<RedisStore | undefined> {
  if (options === false) return undefined;
  const fromEnv = env['KEYBATCH_REDIS'];
  const resolved = options ?? (fromEnv ? { url: fromEnv } : undefined);
  if (!resolved) return undefined;
  if (typeof resolved.url !== 'string' || !/^rediss?:\/\//.test(resolved.url)) {
    throw new ConfigError(
      `shared.url: expected a redis:// or rediss:// URL, got ${JSON.stringify(String(resolved.url).replace(/\/\/[^@/]*@/, '//***@'))}`,
    );
  }
  const namespace = resolved.namespace ?? DEFAULT_NAMESPACE;
  const problem = checkNamespace(namespace);
  if (problem) throw new ConfigError(problem);
  return RedisStore.open(resolved.url, namespace, env['KEYBATCH_SECRET'] || undefined);
}

/**
 * The domain store of a shared pool: each rate domain's law runs in Redis, named there by the
 * pool's keyed hash of the domain (`shared()` is the pool's shared side, once it is open).
 */
export function sharedStore(redis: RedisStore, shared: () => SharedPool | undefined): SharedDomainStore {
  return new SharedDomainStore(redis, (domain) => shared()?.redisDomain(domain));
}

/** The shared side of a pool on `redis`, its first sync done. */
export async function openShared(
  redis: RedisStore,
  store: SharedDomainStore,
  table: KeyTable,
  hooks: SharedPoolHooks,
): Promise<SharedPool> {
  const shared = new SharedPool(redis, store, table, hooks);
  await shared.tick();
  shared.start();
  return shared;
}
