/**
 * The shared pool's policy, pure: what another process's findings change here (mergeKey), which
 * counters go to Redis (counterDeltas), what of a domain's limits is shared and adopted, and how a
 * controller follows the shared schedule (defer, reschedule, adopt) — on a fake clock.
 */
import { describe, expect, it } from 'vitest';
import { PacingController } from '../../../src/keys/pacing/controller.js';
import {
  counterDeltas,
  emptyCounters,
  fieldMap,
  type LocalKey,
  mergeKey,
  parseKey,
  parseLearned,
  shareableLimits,
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

describe('shared limits', () => {
  it('shares each window size, never the counts left or resets', () => {
    const limits = {
      dialect: 'openai' as const,
      requests: { limit: 600, remaining: 3, resetMs: 100, windowMs: 60_000 },
      tokens: { limit: 1000, remaining: 0 },
      retryAfterMs: 5,
    };
    expect(shareableLimits(limits)).toEqual({
      dialect: 'openai',
      requests: { limit: 600, windowMs: 60_000 },
      tokens: { limit: 1000 },
    });
    expect(shareableLimits({ retryAfterMs: 5 })).toBeUndefined();
    expect(parseLearned('{"requests":{"limit":60,"windowMs":1000}}')).toEqual({
      requests: { limit: 60, windowMs: 1000 },
    });
    expect(parseLearned('not json')).toBeUndefined();
  });
});

describe('a controller on a shared schedule (fake clock)', () => {
  it('adopts limits another process learned while it knows nothing, and paces by them', () => {
    const pacer = new PacingController(0);
    expect(pacer.status(0).mode).toBe('slow-start');
    expect(pacer.adopt(0, { requests: { limit: 60, windowMs: 1000 } })).toBe(true);
    expect(pacer.status(0).mode).toBe('headers');
    expect(pacer.slotCost(1)).toBeCloseTo(1000 / (60 * 0.99), 3);
    // Once it has limits of its own it keeps them.
    expect(pacer.adopt(0, { requests: { limit: 1, windowMs: 1000 } })).toBe(false);
  });

  it('defer holds sends until then; reschedule moves the next send after the slot', () => {
    const pacer = new PacingController(0, { rpm: 600 }); // 100 ms per request at most (98% of it: ~102 ms)
    pacer.defer(500);
    expect(pacer.readyAt(0, 1)).toBe(500);
    const seq = pacer.onSend(500, 1);
    const cost = pacer.slotCost(1);
    expect(pacer.readyAt(500, 1)).toBeCloseTo(500 + cost, 3);
    // The shared schedule gave this send the slot at 900: the next one not before 900 + cost.
    pacer.reschedule(seq, 900);
    expect(pacer.readyAt(600, 1)).toBeCloseTo(900 + cost, 3);
  });

  it('counts other processes sends, so slow start sees the domain used and speeds up', () => {
    const alone = new PacingController(0);
    const shared = new PacingController(0);
    // Each sends 3 of the 10 per second slow start allows (the other 7 went to other processes).
    for (let t = 0; t < 1100; t += 333) {
      for (const pacer of [alone, shared])
        pacer.onAnswer(t + 20, { seq: pacer.onSend(t, 1), status: 200, latencyMs: 20, headers: undefined });
      shared.noteSharedSends(7);
    }
    const rate = (pacer: PacingController) => pacer.status(1200).requestsPerMinute;
    expect(rate(shared)).toBeGreaterThan(rate(alone));
  });
});
