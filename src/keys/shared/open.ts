/**
 * Opening a pool's shared side: the `shared` option (or `KEYBATCH_REDIS`) checked, Redis reached,
 * the domain store over it, the first sync done.
 */
import { ConfigError } from '../../errors.js';
import type { KeyTable } from '../key-table.js';
import { checkNamespace, DEFAULT_NAMESPACE } from './naming.js';
import { RedisStore } from './redis-store.js';
import { SharedPool, type SharedPoolHooks } from './shared-pool.js';
import { SlotStore } from './slot-store.js';

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

/** The domain store of a shared pool: its rate domains paced through Redis. */
export function sharedStore(redis: RedisStore, shared: () => SharedPool | undefined): SlotStore {
  return new SlotStore(redis, (domain) => shared()?.redisDomain(domain));
}

/** The shared side of a pool on `redis`, its first sync done. */
export async function openShared(
  redis: RedisStore,
  store: SlotStore,
  table: KeyTable,
  hooks: SharedPoolHooks,
): Promise<SharedPool> {
  const shared = new SharedPool(redis, store, table, hooks);
  await shared.tick();
  shared.start();
  return shared;
}
