/** The options and events of a KeyPool, and its inner records of waits and leases. */
import type { Logger } from '../logger.js';
import type { Notifier } from '../notify/index.js';
import type { KeyEntry, ReloadDiff, StateChange } from './key-table.js';
import type { SharedOptions } from './shared/open.js';
import type { Lease, LeaseRequest } from './types.js';

export interface KeyPoolOptions {
  /**
   * Watch the config file and apply every valid edit live.
   * @default true when the pool comes from a file
   */
  watch?: boolean;
  /**
   * How long to wait when no key is usable before failing with `NoUsableKeyError` (`NO_USABLE_KEY`).
   * @default Infinity (wait for a config edit)
   */
  waitTimeoutMs?: number;
  /**
   * Notifications (from config.json `notify`, or `LARK_HOOK`): `true` for the config's targets,
   * `false` for none, or your own Notifier.
   * @default true
   */
  notify?: boolean | Notifier;
  /** @default a logger writing `keybatch: …` lines to stderr */
  logger?: Logger;
  /** Environment for `KEYBATCH_CONFIG`, `OPENAI_API_KEY`, `OPENAI_BASE_URL`, `LARK_HOOK`, `KEYBATCH_REDIS`. @default process.env */
  env?: NodeJS.ProcessEnv;
  /**
   * Share the pool with every process (on any machine) that opens one with the same Redis and
   * namespace: rate budgets, learned limits, key states and counters. Unreachable at open:
   * `REDIS_UNREACHABLE`; lost later: the pool goes on alone and re-syncs when it is back.
   * `false`: not shared, whatever `KEYBATCH_REDIS` says.
   * @default `{ url: KEYBATCH_REDIS }` when that is set, else not shared
   */
  shared?: SharedOptions | false;
}

export interface PoolEvents {
  blocked: [{ message: string; since: Date }];
  resumed: [{ blockedMs: number }];
  'key-state': [StateChange];
  reloaded: [ReloadDiff];
  error: [Error];
}

export interface Waiter {
  request: LeaseRequest;
  resolve: (lease: Lease) => void;
  reject: (error: Error) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

export interface Granted {
  entry: KeyEntry;
  seq: number;
  /** When the lease was granted (the request's latency runs from here). */
  grantedAt: number;
}
