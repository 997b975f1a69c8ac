/** Main-thread side of the key broker: serves one worker task's lease requests from the KeyPool. */
import { type MessagePort, receiveMessageOnPort } from 'node:worker_threads';
import { serializeError } from '../errors.js';
import type { KeyBroker, Lease } from '../keys/types.js';
import type { BrokerReply, BrokerRequest } from './protocol.js';

/** Answers lease requests arriving on `port` until it closes; returns a function that aborts the task. */
export function serveBroker(port: MessagePort, broker: KeyBroker): { abort(): void; close(): void } {
  const pending = new Map<number, AbortController>();
  /** Leases lent to the task and not yet given back. */
  const lent = new Map<number, Lease>();
  const reply = (message: BrokerReply) => port.postMessage(message);
  const handle = (message: BrokerRequest) => {
    if (message.type === 'release') {
      lent.delete(message.lease.leaseId);
      broker.release(message.lease, message.result);
    } else if (message.type === 'cancel') {
      pending.get(message.id)?.abort();
    } else {
      const controller = new AbortController();
      pending.set(message.id, controller);
      broker.acquire(message.request, controller.signal).then(
        (lease) => {
          pending.delete(message.id);
          if (controller.signal.aborted) broker.release(lease, { outcome: 'cancelled' });
          else {
            lent.set(lease.leaseId, lease);
            reply({ type: 'lease', id: message.id, lease });
          }
        },
        (error: unknown) => {
          pending.delete(message.id);
          if (!controller.signal.aborted)
            reply({ type: 'error', id: message.id, error: serializeError(error) });
        },
      );
    }
  };
  port.on('message', handle);
  const close = () => {
    // The task's result comes back on piscina's own port, so the releases the worker posted just
    // before finishing may still wait here: handle them first, or their leases would stay in flight
    // for ever (a budget still probing its limits would then never lease again: a hang).
    for (let queued = receiveMessageOnPort(port); queued; queued = receiveMessageOnPort(port)) {
      handle(queued.message as BrokerRequest);
    }
    for (const controller of pending.values()) controller.abort();
    pending.clear();
    // A task that ended without giving a lease back (it crashed mid-request) must not leave the key
    // counted in flight.
    for (const lease of lent.values()) broker.release(lease, { outcome: 'cancelled' });
    lent.clear();
    port.close();
  };
  port.on('close', () => {
    for (const controller of pending.values()) controller.abort();
  });
  return { abort: () => reply({ type: 'abort' }), close };
}
