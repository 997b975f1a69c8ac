/**
 * Affinity: a batch, its files and its results are only touched with a key of the organization
 * that created them (keys with a config `organization`), or with that very key (keys without).
 * The broker below asks the pool for such a key (`LeaseRequest.organization` / `keyHash`) and checks every
 * lease it gets: one of another organization is given back unused, never sent, and the request
 * waits (with backoff) as for a spent pool, saying once which organization it waits for.
 */
import type OpenAI from 'openai';
import { type ClientOptions, createClient } from '../keys/client.js';
import { apiKeyHash } from '../keys/key-table.js';
import type { KeyBroker, Lease, LeaseRequest, LeaseResult } from '../keys/types.js';
import type { Logger } from '../logger.js';
import type { Affinity } from './state.js';

/** The first 16 hex digits of the key's SHA-256: names a key on disk without holding it. */
export const keyHash = apiKeyHash;

export function affinityOf(lease: Pick<Lease, 'apiKey' | 'organization' | 'baseURL'>): Affinity {
  const out: Affinity = lease.organization
    ? { organization: lease.organization }
    : { keyHash: keyHash(lease.apiKey) };
  if (lease.baseURL) out.baseURL = lease.baseURL;
  return out;
}

export function sameAffinity(a: Affinity, b: Affinity): boolean {
  return (
    (a.organization ?? null) === (b.organization ?? null) &&
    (a.keyHash ?? null) === (b.keyHash ?? null) &&
    (a.baseURL ?? null) === (b.baseURL ?? null)
  );
}

export function describeAffinity(a: Affinity): string {
  return a.organization ? `organization ${a.organization}` : `the key with SHA-256 ${a.keyHash}…`;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/** A broker over `pool` that only lends keys of `affinity`. */
export function affinityBroker(pool: KeyBroker, affinity: Affinity, logger: Logger): KeyBroker {
  let warned = false;
  return {
    async acquire(request: LeaseRequest, signal?: AbortSignal): Promise<Lease> {
      for (let miss = 0; ; miss++) {
        const ask: LeaseRequest = affinity.organization
          ? { ...request, organization: affinity.organization }
          : { ...request, keyHash: affinity.keyHash };
        const lease = await pool.acquire(ask, signal);
        if (sameAffinity(affinityOf(lease), affinity)) return lease;
        pool.release(lease, { outcome: 'cancelled' });
        if (signal?.aborted) throw signal.reason ?? new Error('aborted');
        if (!warned && miss >= 20) {
          warned = true;
          logger.warn(
            `batch objects of ${describeAffinity(affinity)} wait for a usable key of it (no other key may touch them); add or fix one in config.json`,
          );
        }
        await sleep(Math.min(5 * 1.5 ** miss, 2000), signal);
      }
    },
    release(lease: Lease, result: LeaseResult): void {
      pool.release(lease, result);
    },
  };
}

/** An `openai` client whose every request goes out on a key of `affinity`. */
export function affinityClient(
  pool: KeyBroker,
  affinity: Affinity,
  logger: Logger,
  options: ClientOptions,
): OpenAI {
  return createClient(affinityBroker(pool, affinity, logger), options);
}
