/**
 * The simulator's live key table: which keys exist, how much quota each has used, and the limiter
 * state each group of keys shares. Replaced live by `setKeys`; a key that stays keeps its used
 * quota and its group's limiter state (new limits apply at once; a new limiter kind starts afresh).
 */
import { limitHeaders } from './dialects.js';
import { isSlotBound, type SlotBound } from './limiter-options.js';
import { BucketLimiter } from './limiters/bucket.js';
import { FixedLimiter } from './limiters/fixed.js';
import { SlidingLimiter } from './limiters/sliding.js';
import { peakPerSecond, SlotsLimiter } from './limiters/slots.js';
import type { RateLimiter, RateLimits, RateRefusal } from './limiters/types.js';
import type { ResolvedKey } from './options.js';
import type { SimLimiter } from './types.js';

export function limitsOf(spec: ResolvedKey): RateLimits {
  return {
    requests: { limit: spec.requestsPerWindow, windowMs: spec.windowMs },
    tokens: { limit: spec.tokensPerWindow, windowMs: spec.tokenWindowMs },
    enforceMs: spec.limiter.kind === 'bucket' ? spec.limiter.enforceMs : undefined,
  };
}

/** What the key table answers for a request. */
export type KeyAdmission =
  | {
      readonly allowed: true;
      /** `slots`, `batching`: the time until the answer (the wait for a slot plus the service time). */
      readonly delayMs?: number;
      /** With `settleTokens`: settles the charge to the answer's actual tokens. */
      readonly settle?: (actualTokens: number, now: number) => void;
    }
  | RateRefusal
  | { readonly allowed: false; readonly kind: 'busy' };

type GroupLimiter = RateLimiter | SlotsLimiter;

interface GroupState {
  /** The limiter kind (and for slot-bound kinds, their configuration) the state was made for. */
  readonly signature: string;
  readonly limiter: GroupLimiter;
}

/** What stats report of a group besides its counters. */
export interface GroupInfo {
  readonly limiter: SimLimiter['kind'];
  readonly peakPerSecond: number | null;
}

function signatureOf(spec: ResolvedKey): string {
  const { limiter } = spec;
  return isSlotBound(limiter) ? JSON.stringify(limiter) : limiter.kind;
}

/** The service time of a slot-bound limiter's request alone in its slot, before `perRunningMs`. */
function baseServiceMs(limiter: SlotBound, drawnMs: number): number {
  return (limiter.kind === 'slots' ? limiter.serviceMs : limiter.baseMs) ?? drawnMs;
}

const perRunningMs = (limiter: SlotBound) => (limiter.kind === 'batching' ? limiter.perRunningMs : 0);

function createLimiter(spec: ResolvedKey, now: number): GroupLimiter {
  const { limiter } = spec;
  switch (limiter.kind) {
    case 'bucket':
      return new BucketLimiter(now);
    case 'sliding':
      return new SlidingLimiter();
    case 'fixed':
      return new FixedLimiter();
    case 'slots':
    case 'batching':
      return new SlotsLimiter(
        { slots: limiter.slots, queue: limiter.queue, perRunningMs: perRunningMs(limiter) },
        now,
      );
  }
}

export class KeyTable {
  readonly #keys = new Map<string, ResolvedKey>();
  readonly #used = new Map<string, number>();
  readonly #groups = new Map<string, GroupState>();

  constructor(keys: readonly ResolvedKey[]) {
    this.replace(keys);
  }

  /** Replaces the table; state of keys and groups that disappear is forgotten. */
  replace(keys: readonly ResolvedKey[]): void {
    this.#keys.clear();
    for (const spec of keys) this.#keys.set(spec.key, spec);
    for (const key of this.#used.keys()) if (!this.#keys.has(key)) this.#used.delete(key);
    const bucketIds = new Set(keys.map((spec) => spec.bucketId));
    for (const id of this.#groups.keys()) if (!bucketIds.has(id)) this.#groups.delete(id);
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

  /**
   * Admits a request of `tokens` tokens against the key's group limiter (charging it if it fits);
   * `serviceMs` is its service time for a slot-bound group without its own.
   */
  admit(spec: ResolvedKey, tokens: number, serviceMs: number, now: number): KeyAdmission {
    const { limiter } = this.#stateOf(spec, now);
    if (limiter instanceof SlotsLimiter) {
      const base = isSlotBound(spec.limiter) ? baseServiceMs(spec.limiter, serviceMs) : serviceMs;
      const slot = limiter.admit(base, now);
      return slot.allowed ? { allowed: true, delayMs: slot.delayMs } : { allowed: false, kind: 'busy' };
    }
    const limits = limitsOf(spec);
    const admission = limiter.admit(limits, tokens, now);
    if (!admission.allowed) return admission;
    if (isSlotBound(spec.limiter) || !spec.limiter.settleTokens) return { allowed: true };
    const { ticket } = admission;
    return {
      allowed: true,
      settle: (actualTokens, at) => limiter.settle(limits, ticket, actualTokens, at),
    };
  }

  /** The rate-limit headers for the key's group at `now`, in the key's dialect. */
  headers(spec: ResolvedKey, now: number): Record<string, string> {
    if (!Number.isFinite(spec.requestsPerWindow) && !Number.isFinite(spec.tokensPerWindow)) return {};
    const { limiter } = this.#stateOf(spec, now);
    if (limiter instanceof SlotsLimiter) return {};
    return limitHeaders(spec.headers, limiter.view(limitsOf(spec), now), now);
  }

  /** Each group's limiter kind and peak rate, by group label (the first key of a group decides). */
  groups(meanLatencyMs: number): Map<string, GroupInfo> {
    const groups = new Map<string, GroupInfo>();
    for (const spec of this.#keys.values()) {
      if (groups.has(spec.groupLabel)) continue;
      const { limiter } = spec;
      let peak: number | null = null;
      if (isSlotBound(limiter)) {
        peak = peakPerSecond(limiter.slots, baseServiceMs(limiter, meanLatencyMs), perRunningMs(limiter));
      } else if (Number.isFinite(spec.requestsPerWindow))
        peak = (spec.requestsPerWindow * 1000) / spec.windowMs;
      groups.set(spec.groupLabel, { limiter: limiter.kind, peakPerSecond: peak });
    }
    return groups;
  }

  #stateOf(spec: ResolvedKey, now: number): GroupState {
    const signature = signatureOf(spec);
    let state = this.#groups.get(spec.bucketId);
    if (!state || state.signature !== signature) {
      state = { signature, limiter: createLimiter(spec, now) };
      this.#groups.set(spec.bucketId, state);
    }
    return state;
  }
}
