/**
 * One rate domain as the pool sees it: a thin view over the `DomainStore` that runs its law
 * (`domain/law.ts`). Key selection asks `readyAt` (no store call: the store's last answer, kept
 * here); the grant path calls `reserve`, which is the same code for the in-memory store (an answer
 * now) and the Redis store (a promise). Nothing here decides a pace: the store does.
 */
import type { Sample, Verdict } from '../domain/law.js';
import type { Awaitable, DomainConfig, DomainStore, Reservation } from '../domain/store.js';
import type { PacingStatus } from './controller-types.js';

/** Whether a store's answer is a promise (the Redis store) rather than a value (the in-memory one). */
export function isPending<T>(value: Awaitable<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** Runs `next` on an awaitable's value: at once for a value, when it settles for a promise. */
export function whenReady<T, U>(value: Awaitable<T>, next: (value: T) => U): Awaitable<U> {
  return isPending(value) ? value.then(next) : next(value);
}

/**
 * While a reservation is being asked, key selection looks again this much later: a store round trip
 * to a local Redis is a fraction of a millisecond, and a timer fires no sooner than 1 ms.
 */
const ASKING_RECHECK_MS = 1;

export class DomainPacer {
  /** This process's requests in flight on the domain (the store counts every process's). */
  private inFlight = 0;
  /** Reservations asked of an asynchronous store and not answered yet. */
  private asking = 0;
  /**
   * No reservation is worth asking for before this: the store's last "wait" (`Infinity`: not before
   * an answer frees a place in flight). Any answer or cancel here resets it: the pace may have moved.
   */
  private notBefore = 0;
  /**
   * Reservations this process may have asked an asynchronous store at once: 1 after a wait, doubled
   * by each send granted. Every waiting request would otherwise ask when the wait ends, and all but
   * one be told to wait again (tens of store calls per send); while sends are granted, asks overlap
   * as much as the requests do (a store round trip per send would bound a fast server's pace).
   */
  private askLimit = 1;
  /** A config save's unpause not yet done in an asynchronous store: reservations go after it. */
  private unpausing: Promise<void> | undefined;

  constructor(
    readonly store: DomainStore,
    /** The domain's name in the store (never a key: `key:<id>`, `group:<name>`, or a keyed hash). */
    readonly name: string,
    now: number,
    config: DomainConfig,
  ) {
    const opened = store.open(name, now, config);
    if (isPending(opened)) opened.catch(() => {});
  }

  /**
   * When a request may be worth asking for: `<= now` now, `Infinity` after an answer; while as many
   * reservations as allowed are being asked, a moment later (their answers decide).
   */
  readyAt(): number {
    if (this.asking >= this.askLimit) return Math.max(this.notBefore, Date.now() + ASKING_RECHECK_MS);
    return this.notBefore;
  }

  /** Room 0..1 for spreading load over ready keys: the less this process has in flight, the more. */
  headroom(): number {
    return 1 / (1 + this.inFlight + this.asking);
  }

  /** Asks the store for a send of `tokens` now; a refusal is kept as the domain's `readyAt`. */
  reserve(now: number, tokens: number): Awaitable<Reservation> {
    const unpausing = this.unpausing;
    if (unpausing) {
      this.asking += 1;
      return unpausing.then(() => {
        this.asking -= 1;
        return this.reserve(Date.now(), tokens);
      });
    }
    const reservation = this.store.reserve(this.name, now, tokens);
    if (!isPending(reservation)) return this.took(reservation, now);
    this.asking += 1;
    return reservation.then(
      (answer) => {
        this.asking -= 1;
        return this.took(answer, Date.now());
      },
      (error: unknown) => {
        this.asking -= 1;
        throw error;
      },
    );
  }

  private took(reservation: Reservation, now: number): Reservation {
    if (reservation.seq !== undefined) {
      this.inFlight += 1;
      this.askLimit *= 2;
    } else {
      this.notBefore = now + reservation.waitMs;
      this.askLimit = 1;
    }
    return reservation;
  }

  /** What came back for request `seq`; the store's verdict on it. */
  answer(now: number, sample: Sample): Awaitable<Verdict> {
    this.freed();
    return this.store.answer(this.name, now, sample);
  }

  /** Request `seq` was given up before its answer (or never sent). */
  cancel(seq: number): void {
    this.freed();
    const done = this.store.cancel(this.name, seq);
    if (isPending(done)) done.catch(() => {});
  }

  /** Pauses the domain for `ms` from now (a pause heard from elsewhere, or a test's). */
  pause(now: number, ms: number): Awaitable<void> {
    this.notBefore = 0;
    return this.store.pause(this.name, now, ms);
  }

  /**
   * A config save: the domain's pause ends (in every process, for a store in Redis), and waits
   * learned from the store's last answer are asked again. Reservations asked meanwhile go after it.
   */
  unpause(now: number): Awaitable<void> {
    this.notBefore = 0;
    const done = this.store.unpause(this.name, now);
    if (!isPending(done)) return done;
    const unpausing: Promise<void> = done.then(
      () => this.unpaused(unpausing),
      () => this.unpaused(unpausing),
    );
    this.unpausing = unpausing;
    return unpausing;
  }

  private unpaused(unpausing: Promise<void>): void {
    if (this.unpausing === unpausing) this.unpausing = undefined;
    // (A reservation answered before the unpause may have brought the old pause back here.)
    this.notBefore = 0;
  }

  status(now: number): PacingStatus {
    return this.store.status(this.name, now);
  }

  private freed(): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    this.notBefore = 0;
  }
}
