/**
 * Injected faults: a queue of faults for the next matching requests (`inject`), and random faults
 * drawn from a seeded PRNG so that a run is reproducible.
 */
import type { ResolvedFault } from './options.js';

/** How a request fails instead of being served normally. */
export type Failure =
  | { kind: 'status'; status: number; retryAfterMs?: number }
  | { kind: 'drop' }
  | { kind: 'hang' };

/** mulberry32: a small, fast, seeded PRNG returning floats in [0, 1). */
export function createPrng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Faults queued by `inject`, consumed in order by the requests they match. */
export class FaultQueue {
  readonly #faults: ResolvedFault[] = [];

  push(fault: ResolvedFault): void {
    this.#faults.push(fault);
  }

  /** Takes one use of the first fault matching a request sent with `key` (or none). */
  take(key: string | null): Failure | null {
    if (this.#faults.length === 0) return null;
    const index = this.#faults.findIndex((fault) => fault.key === undefined || fault.key === key);
    const fault = this.#faults[index];
    if (!fault) return null;
    fault.remaining -= 1;
    if (fault.remaining <= 0) this.#faults.splice(index, 1);
    if (fault.kind === 'status')
      return { kind: 'status', status: fault.status, retryAfterMs: fault.retryAfterMs };
    return { kind: fault.kind };
  }
}

export interface FaultRates {
  errorRate: number;
  dropRate: number;
  hangRate: number;
  seed: number;
}

/** Random 500s, drops and hangs; one PRNG draw per request, only when some rate is set. */
export class RandomFaults {
  readonly #rates: FaultRates;
  readonly #random: () => number;
  readonly #enabled: boolean;

  constructor(rates: FaultRates) {
    this.#rates = rates;
    this.#random = createPrng(rates.seed);
    this.#enabled = rates.errorRate + rates.dropRate + rates.hangRate > 0;
  }

  draw(): Failure | null {
    if (!this.#enabled) return null;
    const r = this.#random();
    const { errorRate, dropRate, hangRate } = this.#rates;
    if (r < errorRate) return { kind: 'status', status: 500 };
    if (r < errorRate + dropRate) return { kind: 'drop' };
    if (r < errorRate + dropRate + hangRate) return { kind: 'hang' };
    return null;
  }
}
