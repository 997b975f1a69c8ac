/** The pool serves a lease request pinned to one organization or one key (by its hash) with that key only. */
import { afterEach, describe, expect, it } from 'vitest';
import { affinityBroker, affinityOf } from '../../src/batch/affinity.js';
import { KeyPool } from '../../src/keys/key-pool.js';
import { apiKeyHash } from '../../src/keys/key-table.js';
import { collectingLogger } from '../helpers.js';

const KEYS = ['sk-test-aff-one-0001', 'sk-test-aff-two-0002', 'sk-test-aff-three-0003'];
let pool: KeyPool | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

describe('lease affinity', () => {
  it('a keyHash request is served by that key only, every time; organization by its keys only', async () => {
    pool = await KeyPool.open(
      {
        key_list: [
          { api_key: KEYS[0] as string, base_url: 'http://127.0.0.1:9/v1' },
          { api_key: KEYS[1] as string, base_url: 'http://127.0.0.1:9/v1', organization: 'org-x' },
          { api_key: KEYS[2] as string, base_url: 'http://127.0.0.1:9/v1' },
        ],
      },
      { watch: false, notify: false, logger: collectingLogger() },
    );
    const want = apiKeyHash(KEYS[2] as string);
    for (let i = 0; i < 6; i++) {
      const lease = await pool.acquire({ tokens: 0, workerId: 0, keyHash: want });
      expect(lease.apiKey).toBe(KEYS[2]);
      pool.release(lease, { outcome: 'cancelled' });
      const org = await pool.acquire({ tokens: 0, workerId: 0, organization: 'org-x' });
      expect(org.apiKey).toBe(KEYS[1]);
      pool.release(org, { outcome: 'cancelled' });
    }
    const broker = affinityBroker(
      pool,
      { keyHash: want, baseURL: 'http://127.0.0.1:9/v1' },
      collectingLogger(),
    );
    const lease = await broker.acquire({ tokens: 0, workerId: 0 });
    expect(affinityOf(lease)).toEqual({ keyHash: want, baseURL: 'http://127.0.0.1:9/v1' });
    broker.release(lease, { outcome: 'cancelled' });
  });
});
