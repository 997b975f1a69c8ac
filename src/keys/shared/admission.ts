/**
 * A lease on a shared pool: the key is picked locally (as for a pool of one process), then its send
 * slot is reserved in the domain's schedule in Redis, and the lease is handed over when the slot
 * starts. A full schedule sends the request back to the front of the queue, the domain deferred.
 */
import { AbortError } from '../../errors.js';
import type { KeyEntry, KeyTable } from '../key-table.js';
import type { Lease, LeaseRequest } from '../types.js';
import type { SharedPool } from './shared-pool.js';

export interface AdmitWaiter {
  request: LeaseRequest;
  resolve: (lease: Lease) => void;
  reject: (error: Error) => void;
  signal: AbortSignal | undefined;
}

export interface AdmitContext {
  table: KeyTable;
  shared: SharedPool;
  closed(): boolean;
  /** Hands out the lease of a granted send (`seq`: the pacer's number of it). */
  lease(entry: KeyEntry, seq: number, grantedAt: number): Lease;
  /** The waiter goes back to the front of the queue, and the queue is served again. */
  requeue(waiter: AdmitWaiter): void;
  /** Tracks a slot wait so that close() can end it. */
  track(cancel: () => void): () => void;
}

export function admit(ctx: AdmitContext, waiter: AdmitWaiter, entry: KeyEntry, now: number): void {
  const seq = ctx.table.leased(entry, waiter.request.tokens, now);
  const cancel = () => ctx.table.settle(entry, seq, { outcome: 'cancelled' }, Date.now());
  void ctx.shared.reserve(entry, waiter.request.tokens).then((slot) => {
    if (ctx.closed() || waiter.signal?.aborted) {
      cancel();
      ctx.shared.refund(slot);
      if (ctx.closed()) waiter.reject(new AbortError('the key pool was closed'));
      return;
    }
    if (!slot.granted) {
      cancel();
      entry.pacer.defer(Date.now() + slot.retryMs);
      ctx.requeue(waiter);
      return;
    }
    const go = () => {
      if (waiter.signal?.aborted) {
        cancel();
        ctx.shared.refund(slot);
        return;
      }
      waiter.resolve(ctx.lease(entry, seq, Date.now()));
    };
    if (slot.delayMs <= 0) return go();
    entry.pacer.reschedule(seq, Date.now() + slot.delayMs);
    let done = false;
    const untrack = ctx.track(() => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      cancel();
      ctx.shared.refund(slot);
      waiter.reject(new AbortError('the key pool was closed'));
    });
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      untrack();
      go();
    }, slot.delayMs);
  });
}
