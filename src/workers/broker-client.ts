/** Worker-thread side of the key broker: leases keys from the main thread's KeyPool over a port. */
import type { MessagePort } from 'node:worker_threads';
import { AbortError, deserializeError } from '../errors.js';
import type { KeyBroker, Lease, LeaseRequest, LeaseResult } from '../keys/types.js';
import type { BrokerReply, BrokerRequest } from './protocol.js';

interface Pending {
  resolve: (lease: Lease) => void;
  reject: (error: Error) => void;
}

export class PortBroker implements KeyBroker {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(
    private readonly port: MessagePort,
    onAbort: () => void,
  ) {
    port.on('message', (message: BrokerReply) => {
      if (message.type === 'abort') return onAbort();
      const waiter = this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id);
      if (message.type === 'lease') waiter.resolve(message.lease);
      else waiter.reject(deserializeError(message.error));
    });
  }

  private send(message: BrokerRequest): void {
    this.port.postMessage(message);
  }

  acquire(request: LeaseRequest, signal?: AbortSignal): Promise<Lease> {
    if (signal?.aborted) return Promise.reject(new AbortError());
    const id = this.nextId++;
    return new Promise<Lease>((resolve, reject) => {
      const onAbort = () => {
        this.pending.delete(id);
        this.send({ type: 'cancel', id });
        reject(new AbortError());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, {
        resolve: (lease) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(lease);
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      });
      this.send({ type: 'acquire', id, request });
    });
  }

  release(lease: Lease, result: LeaseResult): void {
    this.send({ type: 'release', lease, result });
  }
}
