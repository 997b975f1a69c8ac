/**
 * The `slots` and `batching` models: a self-hosted server (vLLM, Ollama) without a rate limit but
 * with `slots` requests served at once and a queue of `queue` waiting for a slot; one more is
 * answered 503. Requests are served first come, first served, each holding a slot for its service
 * time, so a request's latency is its wait for a slot plus its service time.
 *
 * `slots`: the service time is fixed (service time × its position in the queue when all arrive
 * together). `batching` (continuous batching, as vLLM runs): every request in the batch slows the
 * others' decoding steps, so a request's service time is `base + perRunningMs × running`, where
 * `running` counts the requests holding a slot when it starts, itself included. Starts never go
 * backwards (first come, first served onto the earliest free slot), so that count is final when the
 * request is admitted. No clock here: the time is passed in.
 */

export interface SlotsConfig {
  readonly slots: number;
  readonly queue: number;
  /** `batching`: what each running request adds to a request's service time. @default 0 (`slots`) */
  readonly perRunningMs?: number;
}

export type SlotAdmission =
  | {
      readonly allowed: true;
      /** Until the answer: the wait for a slot plus the service time. */
      readonly delayMs: number;
      /** Requests that were waiting for a slot ahead of this one. */
      readonly position: number;
    }
  | { readonly allowed: false; readonly kind: 'busy'; readonly waiting: number };

/**
 * The most requests per second `slots` serve with a service time of `serviceMs` (plus
 * `perRunningMs` per running request: all slots full); `null` if unbounded.
 */
export function peakPerSecond(slots: number, serviceMs: number, perRunningMs = 0): number | null {
  const fullMs = serviceMs + perRunningMs * slots;
  return fullMs > 0 ? (slots * 1000) / fullMs : null;
}

export class SlotsLimiter {
  readonly kind = 'slots' as const;
  readonly config: SlotsConfig;
  /** When each slot is free again. */
  readonly #freeAt: number[];
  /** Start times of the requests still waiting for a slot, in order (never decreasing). */
  #starts: number[] = [];

  constructor(config: SlotsConfig, now: number) {
    this.config = config;
    this.#freeAt = Array.from({ length: config.slots }, () => now);
  }

  /** Requests waiting for a slot at `now`. */
  waiting(now: number): number {
    let started = 0;
    while (started < this.#starts.length && (this.#starts[started] as number) <= now) started += 1;
    if (started > 0) this.#starts = this.#starts.slice(started);
    return this.#starts.length;
  }

  /** Requests being served at `now`. */
  busy(now: number): number {
    return this.#freeAt.filter((at) => at > now).length;
  }

  /**
   * Takes a slot (at once or after the requests ahead) for `serviceMs` (plus `perRunningMs` per
   * request running when it starts), or refuses: queue full.
   */
  admit(serviceMs: number, now: number): SlotAdmission {
    const waiting = this.waiting(now);
    let slot = 0;
    for (let i = 1; i < this.#freeAt.length; i += 1) {
      if ((this.#freeAt[i] as number) < (this.#freeAt[slot] as number)) slot = i;
    }
    const start = Math.max(now, this.#freeAt[slot] as number);
    if (start > now && waiting >= this.config.queue) return { allowed: false, kind: 'busy', waiting };
    const service = Math.max(0, serviceMs) + (this.config.perRunningMs ?? 0) * this.#runningAt(start, slot);
    this.#freeAt[slot] = start + service;
    if (start > now) this.#starts.push(start);
    return { allowed: true, delayMs: start - now + service, position: start > now ? waiting : 0 };
  }

  /** Requests holding a slot at `start` once the request taking `slot` has started, itself included. */
  #runningAt(start: number, slot: number): number {
    let running = 1;
    for (let i = 0; i < this.#freeAt.length; i += 1) {
      if (i !== slot && (this.#freeAt[i] as number) > start) running += 1;
    }
    return running;
  }
}
