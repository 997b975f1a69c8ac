/**
 * The simulator's live key table: which keys exist, how much quota each has used, and the
 * rate-limit buckets each group of keys shares. Replaced live by `setKeys`; a key that stays keeps
 * its used quota and its group's buckets.
 */
import type { ResolvedKey } from './options.js';
import {
  type Admission,
  admit,
  createGroupBuckets,
  type GroupBuckets,
  type GroupLimits,
  rateLimitHeaders,
} from './rate-limit.js';

export function limitsOf(spec: ResolvedKey): GroupLimits {
  return {
    requests: { capacity: spec.requestsPerWindow, windowMs: spec.windowMs },
    tokens: { capacity: spec.tokensPerWindow, windowMs: spec.windowMs },
  };
}

export class KeyTable {
  readonly #keys = new Map<string, ResolvedKey>();
  readonly #used = new Map<string, number>();
  readonly #buckets = new Map<string, GroupBuckets>();

  constructor(keys: readonly ResolvedKey[]) {
    this.replace(keys);
  }

  /** Replaces the table; state of keys and groups that disappear is forgotten. */
  replace(keys: readonly ResolvedKey[]): void {
    this.#keys.clear();
    for (const spec of keys) this.#keys.set(spec.key, spec);
    for (const key of this.#used.keys()) if (!this.#keys.has(key)) this.#used.delete(key);
    const bucketIds = new Set(keys.map((spec) => spec.bucketId));
    for (const id of this.#buckets.keys()) if (!bucketIds.has(id)) this.#buckets.delete(id);
  }

  get(key: string): ResolvedKey | undefined {
    return this.#keys.get(key);
  }

  hasQuota(spec: ResolvedKey): boolean {
    return (this.#used.get(spec.key) ?? 0) < spec.quota;
  }

  /** Counts one successful request against the key's quota. */
  useQuota(spec: ResolvedKey): void {
    this.#used.set(spec.key, (this.#used.get(spec.key) ?? 0) + 1);
  }

  /** Admits a request of `tokens` tokens against the key's group buckets (taking them if it fits). */
  admit(spec: ResolvedKey, tokens: number, now: number): Admission {
    return admit(this.#bucketsOf(spec, now), limitsOf(spec), tokens, now);
  }

  /** The `x-ratelimit-*` headers for the key's group at `now`. */
  headers(spec: ResolvedKey, now: number): Record<string, string> {
    if (!Number.isFinite(spec.requestsPerWindow) && !Number.isFinite(spec.tokensPerWindow)) return {};
    return rateLimitHeaders(this.#bucketsOf(spec, now), limitsOf(spec), now);
  }

  #bucketsOf(spec: ResolvedKey, now: number): GroupBuckets {
    let buckets = this.#buckets.get(spec.bucketId);
    if (!buckets) {
      buckets = createGroupBuckets(now);
      this.#buckets.set(spec.bucketId, buckets);
    }
    return buckets;
  }
}
