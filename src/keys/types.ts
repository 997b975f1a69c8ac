/** Types shared by the pool, the pool-aware fetch and the worker-thread key broker. */
import type { CostSummary } from '../tokens/cost.js';
import type { Outcome } from './classify.js';
import type { PacingStatus } from './pacing/controller-types.js';
import type { NormalizedLimits } from './pacing/dialects.js';

export type KeyState = 'ready' | 'cooling' | 'exhausted' | 'invalid';

/** What a request needs from the pool. */
export interface LeaseRequest {
  /** The model asked for, when the request names one (keys may be denied per model). */
  model?: string | undefined;
  /** Estimated tokens (prompt + max completion), for `tpm` pacing. */
  tokens: number;
  /** The lane asking; worker `i` starts its rotation at `key_index + i`. */
  workerId: number;
  /**
   * Only keys whose config `organization` is this one may serve the request (files and batches
   * live in one organization). While none is usable the request waits, as for a spent pool.
   */
  organization?: string | undefined;
  /**
   * Only the key whose `apiKeyHash` is this may serve the request (batch objects made with a key
   * that has no `organization`). While it is not usable the request waits, as for a spent pool.
   */
  keyHash?: string | undefined;
}

/** A key lent for one HTTP attempt. Holds the full key: it never leaves memory except in the request. */
export interface Lease {
  leaseId: number;
  keyId: number;
  /** The key as it may be shown: `name`, else `sk-…` + last 4. */
  label: string;
  apiKey: string;
  baseURL?: string | undefined;
  organization?: string | undefined;
}

/** How the attempt on a lease ended. */
export interface LeaseResult {
  outcome: Outcome | 'cancelled';
  status?: number | undefined;
  code?: string | undefined;
  model?: string | undefined;
  /** The answer's rate-limit headers, read in any dialect (plain data: crosses the worker boundary). */
  limits?: NormalizedLimits | undefined;
  /** Tokens used, when the answer said (`usage`). */
  tokens?: number | undefined;
  /** The answer's `usage` object as sent, for per-key accounting. */
  usage?: Record<string, unknown> | undefined;
  /**
   * The attempt failed in a way that points at the key's endpoint rather than the request
   * (connection refused, DNS, TLS, a redirect to another origin, a 404 on a route this key never
   * served): a redacted one-line description, naming the base URL. The pool counts these per key.
   */
  unreachable?: string | undefined;
}

/** Leases keys: the KeyPool in the main thread, or its proxy in a worker thread. */
export interface KeyBroker {
  acquire(request: LeaseRequest, signal?: AbortSignal): Promise<Lease>;
  release(lease: Lease, result: LeaseResult): void;
  /** Whether some key's config has `tpm` (token estimates then use the real tokenizer). */
  tokenLimited?(): boolean;
  /** `text` with every key of the pool, and every long piece of one, redacted (answers may echo any of them). */
  scrub?(text: string): string;
}

/** One key in `pool.status()`, redacted. */
export interface KeyStatus {
  key: string;
  group?: string;
  state: KeyState;
  /** ISO time the key cools down until, when cooling. */
  coolingUntil?: string;
  /**
   * Why the key is `invalid` or `exhausted`, redacted: `rejected (401 invalid_api_key)`,
   * `no quota left (429 insufficient_quota)`, `unreachable at http://127.0.0.1:9/v1 (ECONNREFUSED, 3 attempts in a row)`.
   */
  reason?: string;
  /** Models this key was refused access to. */
  deniedModels: string[];
  /** The models config.json lets this key serve (`models`), when it names them. */
  models?: string[];
  requests: number;
  successes: number;
  inFlight: number;
  /** Error answers by class: quota, rate_limit, invalid, denied, bad_request, retryable. */
  errors: Partial<Record<Outcome, number>>;
  tokens: number;
  /** What this key's answers cost (online prices; `usd` null when some answer's model has no price). */
  cost?: CostSummary;
  /** The pacer of the key's rate domain (its group, else the key): mode, pace, in-flight cap, learned limits. */
  pacing?: PacingStatus;
  /** A shared pool: this key's counters summed over every process sharing it (as of the last sync, ≤ 250 ms old). */
  shared?: SharedCounters;
}

/** The keys of one config `group` (one rate domain) and what their answers cost. */
export interface GroupStatus {
  group: string;
  keys: string[];
  cost: CostSummary;
}

export interface PoolStatus {
  keys: KeyStatus[];
  /** What every key's answers cost, added up (always set by `pool.status()`). */
  cost?: CostSummary;
  /** Per config `group` (absent when no key has one). */
  groups?: GroupStatus[];
  blocked: boolean;
  /** The config file watched, if any. */
  configPath?: string;
  /** A shared pool (`shared` option, `--redis`): where, and whether Redis is reachable now. */
  shared?: SharedStatus;
}

/** Counters of one key over every process sharing the pool. */
export interface SharedCounters {
  requests: number;
  successes: number;
  tokens: number;
  /** USD of the answers whose model has a price. */
  cost: number;
  /** Error answers by class: quota, rate_limit, invalid, denied, bad_request, retryable. */
  errors: Record<string, number>;
}

export interface SharedStatus {
  /** The Redis URL, without a password. */
  url: string;
  namespace: string;
  /** Whether Redis is reachable now (false: this process goes on with its own state, and re-syncs when it is back). */
  connected: boolean;
}
