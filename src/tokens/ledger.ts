/**
 * The spend ledger of a budget: each request reserves its estimated cost before it is sent and
 * settles to its actual cost when answered (or is refunded when it spent nothing). A request is
 * refused when `spent + reserved + its estimate` would pass the cap. Pure and in-process.
 */

export interface Reservation {
  readonly usd: number;
  open: boolean;
}

const usd = (value: number): number => Math.round(value * 1e12) / 1e12;

export class SpendLedger {
  private spentUsd: number;
  private reservedUsd = 0;
  private open = 0;

  /**
   * @param capUsd The budget, USD.
   * @param spentUsd Already spent before this run (rebuilt from the checkpoint's rows). @default 0
   */
  constructor(
    readonly capUsd: number,
    spentUsd = 0,
  ) {
    this.spentUsd = spentUsd;
  }

  /** Reserves `estimateUsd`; undefined (nothing reserved) when it would pass the cap. */
  reserve(estimateUsd: number): Reservation | undefined {
    if (usd(this.spentUsd + this.reservedUsd + estimateUsd) > this.capUsd) return undefined;
    this.reservedUsd = usd(this.reservedUsd + estimateUsd);
    this.open += 1;
    return { usd: estimateUsd, open: true };
  }

  /** The request was answered: its reservation becomes `actualUsd` spent. */
  settle(reservation: Reservation, actualUsd: number): void {
    this.release(reservation);
    this.spentUsd = usd(this.spentUsd + actualUsd);
  }

  /** The request spent nothing (it failed before an answer): its reservation is freed. */
  refund(reservation: Reservation): void {
    this.release(reservation);
  }

  private release(reservation: Reservation): void {
    if (!reservation.open) return;
    reservation.open = false;
    this.open -= 1;
    this.reservedUsd = Math.max(0, usd(this.reservedUsd - reservation.usd));
  }

  get spent(): number {
    return this.spentUsd;
  }

  get reserved(): number {
    return this.reservedUsd;
  }

  /** Reservations not settled or refunded yet (requests in flight). */
  get holders(): number {
    return this.open;
  }

  /** What is left of the cap once the spent figure is counted (never negative). */
  get left(): number {
    return Math.max(0, usd(this.capUsd - this.spentUsd));
  }
}
