/**
 * The pool asks each rate domain's store (the law) for every send: where nothing limits, a lease is
 * granted at once, with no timer armed; a refusal the law paces by shows in `status().pacing`; a
 * reload keeps a group's domain (what its law learned); `rpm` is a ceiling on the pace.
 */
import { describe, expect, it } from 'vitest';
import { KeyPool } from '../../src/keys/key-pool.js';
import type { Lease } from '../../src/keys/types.js';
import { collectingLogger, useCleanup } from '../helpers.js';

const cleanup = useCleanup();

async function open(keys: Array<{ api_key: string; group?: string; rpm?: number }>): Promise<KeyPool> {
  return cleanup(
    await KeyPool.open({ key_list: keys }, { logger: collectingLogger(), notify: false, env: {} }),
  );
}

/** Acquires `n` leases and says how many were granted before the next microtask (synchronously). */
async function leaseAll(pool: KeyPool, n: number): Promise<{ leases: Lease[]; atOnce: number }> {
  let atOnce = 0;
  let settled = 0;
  const asked = Array.from({ length: n }, () =>
    pool.acquire({ tokens: 1, workerId: 0 }).then((lease) => {
      settled += 1;
      return lease;
    }),
  );
  // A lease granted at once resolves its promise before any timer or I/O; count those first.
  await Promise.resolve();
  atOnce = settled;
  return { leases: await Promise.all(asked), atOnce };
}

describe('the pool paces through the domain store', () => {
  it('where nothing limits, the first 8 leases go at once and no timer is armed; served answers let more go', async () => {
    const pool = await open([{ api_key: 'sk-test-law-free-0001' }]);
    const first = await leaseAll(pool, 8);
    expect(first.atOnce).toBe(8);
    // The 9th waits for an answer (the in-flight bound), not for a time.
    let ninth: Lease | undefined;
    const waiting = pool.acquire({ tokens: 1, workerId: 0 }).then((lease) => {
      ninth = lease;
      return lease;
    });
    await Promise.resolve();
    expect(ninth).toBeUndefined();
    for (const lease of first.leases) pool.release(lease, { outcome: 'ok', status: 200 });
    pool.release(await waiting, { outcome: 'ok', status: 200 });
    expect(pool.timersArmed).toBe(0);
    expect(pool.status().keys[0]!.pacing).toMatchObject({ mode: 'slow-start', inFlight: 0 });
    expect(pool.status().keys[0]!.pacing!.inFlightCap).toBeGreaterThan(8);
  });

  it('a refusal paces the domain; a reload that replaces every key of the group keeps the group’s pace', async () => {
    const pool = await open([
      { api_key: 'sk-test-law-grp-0001', group: 'team' },
      { api_key: 'sk-test-law-grp-0002', group: 'team' },
    ]);
    const { leases } = await leaseAll(pool, 8);
    for (const lease of leases.slice(0, -1)) pool.release(lease, { outcome: 'ok', status: 200 });
    pool.release(leases.at(-1)!, { outcome: 'rate_limit', status: 429 });
    const paced = pool.status().keys[0]!.pacing!;
    expect(paced.mode).toBe('observed');
    expect(Number.isFinite(paced.requestsPerMinute)).toBe(true);
    pool.reload({
      keys: [
        { apiKey: 'sk-test-law-grp-0003', group: 'team' },
        { apiKey: 'sk-test-law-grp-0004', group: 'team' },
      ],
      keyIndex: 0,
    });
    for (const key of pool.status().keys) {
      expect(key.pacing!.mode).toBe('observed');
      expect(key.pacing!.requestsPerMinute).toBeCloseTo(paced.requestsPerMinute, 6);
    }
  });

  it('rpm is a ceiling on the pace: 60 a minute lets one go, the next waits about a second', async () => {
    const pool = await open([{ api_key: 'sk-test-law-rpm-0001', rpm: 60 }]);
    expect(pool.status().keys[0]!.pacing!.requestsPerMinute).toBe(60);
    const { atOnce } = await leaseAll(pool, 1);
    expect(atOnce).toBe(1);
    const controller = new AbortController();
    const next = pool.acquire({ tokens: 1, workerId: 0 }, controller.signal);
    const raced = await Promise.race([
      next.then(() => 'leased'),
      new Promise((resolve) => setTimeout(() => resolve('waiting'), 200)),
    ]);
    expect(raced).toBe('waiting');
    controller.abort();
    await expect(next).rejects.toMatchObject({ code: 'ABORTED' });
  });
});
