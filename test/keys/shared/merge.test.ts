/**
 * The shared pool's policy, pure: what another process's findings change here (mergeKey), which
 * counters go to Redis (counterDeltas).
 */
import { describe, expect, it } from 'vitest';
import {
  counterDeltas,
  emptyCounters,
  fieldMap,
  type LocalKey,
  mergeKey,
  parseKey,
} from '../../../src/keys/shared/merge.js';

const ready: LocalKey = { state: 'ready', denied: new Set(), coolingUntil: 0 };
const remote = (fields: string[]) => parseKey(fieldMap(fields));

describe('mergeKey', () => {
  it('takes a key out that another process found rejected or spent; invalid beats exhausted', () => {
    expect(mergeKey(ready, remote(['state', 'invalid', 'reason', 'rejected (401 x)']), 0, 0)).toEqual({
      state: 'invalid',
      reason: 'rejected (401 x)',
    });
    expect(mergeKey(ready, remote(['state', 'exhausted']), 0, 0)?.state).toBe('exhausted');
    const exhausted: LocalKey = { ...ready, state: 'exhausted' };
    expect(mergeKey(exhausted, remote(['state', 'invalid']), 0, 0)?.state).toBe('invalid');
    const invalid: LocalKey = { ...ready, state: 'invalid' };
    expect(mergeKey(invalid, remote(['state', 'exhausted']), 0, 0)).toBeUndefined();
  });

  it('adds only the models not yet denied here', () => {
    const local: LocalKey = { ...ready, denied: new Set(['a']) };
    expect(mergeKey(local, remote(['denied:a', '1', 'denied:b', '1']), 0, 0)).toEqual({ deny: ['b'] });
    expect(mergeKey(local, remote(['denied:a', '1']), 0, 0)).toBeUndefined();
  });

  it('a cooling instant on Redis clock becomes one on ours; a past or shorter one is no news', () => {
    // Redis's clock is 10 s ahead of ours: cooling 3 s from Redis's now is 3 s from ours.
    expect(mergeKey(ready, remote(['cool', '13000']), 10_000, 0)).toEqual({ coolUntil: 3000 });
    expect(mergeKey(ready, remote(['cool', '9000']), 10_000, 0)).toBeUndefined();
    const cooling: LocalKey = { ...ready, state: 'cooling', coolingUntil: 2990 };
    expect(mergeKey(cooling, remote(['cool', '13000']), 10_000, 0)).toBeUndefined();
    expect(mergeKey({ ...ready, state: 'exhausted' }, remote(['cool', '13000']), 10_000, 0)).toBeUndefined();
  });

  it('reads the counters summed in Redis', () => {
    expect(
      remote(['requests', '5', 'successes', '4', 'tokens', '40', 'cost', '0.5', 'e:rate_limit', '1'])
        .counters,
    ).toEqual({
      requests: 5,
      successes: 4,
      tokens: 40,
      cost: 0.5,
      errors: { rate_limit: 1 },
    });
  });
});

describe('counterDeltas', () => {
  it('sends what grew since the last flush, nothing that did not', () => {
    const flushed = { ...emptyCounters(), requests: 3, errors: { invalid: 1 } };
    const now = { requests: 5, successes: 1, tokens: 0, cost: 0.25, errors: { invalid: 1, quota: 2 } };
    expect(counterDeltas(now, flushed)).toBe('requests 2 successes 1 cost 0.25 e:quota 2');
    expect(counterDeltas(flushed, flushed)).toBe('');
  });
});
