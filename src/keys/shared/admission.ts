/**
 * A lease on a shared pool: the key is picked locally (as for a pool of one process), then its send
 * slot is reserved in the domain's schedule in Redis, and the lease is handed over when the slot
 * starts. A full schedule sends the request back to the front of the queue, the domain deferred.
 * An abort (or the pool's close) while the slot is reserved or awaited ends the wait at once: the
 * lease is cancelled and the slot given back; a key found out (rejected, spent, denied the model)
 * meanwhile sends the request back to the queue, for another key.
 */
import { AbortError } from '../../errors.js';
import type { KeyEntry, KeyTable } from '../key-table.js';
import type { Lease, LeaseRequest } from '../types.js';
import { RECHECK_AFTER_MS, type SharedPool } from './shared-pool.js';

export interface AdmitWaiter {
  request: LeaseRequest;
  resolve: (lease: Lease) => void;
  reject: (error: Error) => void;
  signal: AbortSignal | undefined;
}

export interface AdmitContext {
  table: KeyTable;
  shared: SharedPool;
  /** Hands out the lease of a granted send (`seq`: the pacer's number of it). */
  lease(entry: KeyEntry, seq: number, grantedAt: number): Lease;
  /** The waiter goes back to the front of the queue, and the queue is served again. */
  requeue(waiter: AdmitWaiter): void;
  /** Tracks an admission so that close() can end it; returns the untrack function. */
  track(cancel: () => void): () => void;
}

type Reserved = Awaited<ReturnType<SharedPool['reserve']>>;

/**
 * How far past a slot's start the domain's pause may end and the slot still go: the pause the
 * slot was reserved after, read on this process's clock (a pause that came later is 500 ms or more).
 */
export const HELD_SLACK_MS = 25;

const held = (entry: KeyEntry) => entry.pacer.heldUntil() > Date.now() + HELD_SLACK_MS;

/** A slot reserved at more than twice the domain's pace now (it was cut meanwhile). */
export const staleSlot = (costNow: number, reservedCost: number): boolean => costNow > 2 * reservedCost;

const stale = (entry: KeyEntry, tokens: number, reservedCost: number) =>
  staleSlot(entry.pacer.slotCost(tokens), reservedCost);

export function admit(ctx: AdmitContext, waiter: AdmitWaiter, entry: KeyEntry, now: number): void {
  const seq = ctx.table.leased(entry, waiter.request.tokens, now);
  let settled = false;
  let slot: Reserved | undefined;
  let timer: NodeJS.Timeout | undefined;
  const signal = waiter.signal;
  const leave = () => {
    settled = true;
    clearTimeout(timer);
    untrack();
    signal?.removeEventListener('abort', onAbort);
  };
  const cancel = () => ctx.table.settle(entry, seq, { outcome: 'cancelled' }, Date.now());
  const end = (error: Error) => {
    if (settled) return;
    leave();
    cancel();
    if (slot) ctx.shared.refund(slot);
    waiter.reject(error);
  };
  const onAbort = () => end(new AbortError());
  const untrack = ctx.track(() => end(new AbortError('the key pool was closed')));
  if (signal?.aborted) {
    end(new AbortError());
    return;
  }
  signal?.addEventListener('abort', onAbort, { once: true });

  void ctx.shared.reserve(entry, waiter.request.tokens).then((reserved) => {
    if (settled) {
      ctx.shared.refund(reserved);
      return;
    }
    slot = reserved;
    if (!reserved.granted) {
      leave();
      cancel();
      entry.pacer.defer(Date.now() + reserved.retryMs);
      ctx.requeue(waiter);
      return;
    }
    const go = () => {
      if (settled) return;
      leave();
      // Found out during the wait (by this process or another): the request goes to another key;
      // paused meanwhile (a refusal here, or another process's seen at a sync), or its pace since
      // cut to less than half (slow start ended): it waits again, for a slot at the new pace.
      const model = waiter.request.model;
      const out =
        entry.state === 'invalid' || entry.state === 'exhausted' || (model && entry.denied.has(model));
      if (out || held(entry) || stale(entry, waiter.request.tokens, reserved.cost)) {
        cancel();
        ctx.shared.refund(reserved);
        ctx.requeue(waiter);
        return;
      }
      if ('at' in reserved) ctx.shared.sent(entry, seq, reserved);
      waiter.resolve(ctx.lease(entry, seq, Date.now()));
    };
    if (reserved.delayMs <= 0) {
      go();
      return;
    }
    entry.pacer.reschedule(seq, Date.now() + reserved.delayMs);
    // A long wait: the domain may have been paused meanwhile by another process; ask before going.
    const recheck = () => void ctx.shared.recheck(entry).then(go, go);
    timer = setTimeout(
      reserved.delayMs >= RECHECK_AFTER_MS && 'at' in reserved ? recheck : go,
      reserved.delayMs,
    );
  });
}
