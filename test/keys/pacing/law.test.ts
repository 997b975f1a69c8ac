/**
 * The pacing law's rules one by one (docs/pacing.md), on the in-memory store with a fake clock:
 * what raises and lowers the pace, what pauses the domain, what is not a rate signal.
 */
import { describe, expect, it } from 'vitest';
import type { Sample } from '../../../src/keys/domain/law.js';
import { MemoryStore } from '../../../src/keys/domain/store.js';

const D = 'domain';

/** Sends every request the store allows at `now`; returns their numbers. */
function sendAll(store: MemoryStore, now: number): number[] {
  const seqs: number[] = [];
  for (let r = store.reserve(D, now, 1); r.seq !== undefined; r = store.reserve(D, now, 1)) seqs.push(r.seq);
  return seqs;
}

const answer = (seq: number, status: number, latencyMs = 100, headers?: Sample['headers']): Sample => ({
  seq,
  status,
  latencyMs,
  headers,
});

/** A domain paced by one refusal: 8 sent at 0, 7 served at 100 ms, the 8th refused. */
function pacedStore(): { store: MemoryStore; pace: () => number } {
  const store = new MemoryStore();
  const seqs = sendAll(store, 0);
  for (const seq of seqs.slice(0, -1)) store.answer(D, 100, answer(seq, 200));
  store.answer(D, 100, answer(seqs.at(-1)!, 429, 100));
  return { store, pace: () => store.status(D, 100).requestsPerMinute };
}

describe('the pacing law', () => {
  it('with nothing limiting, doubles what is in flight each round trip, unpaced', () => {
    // A loop that sends again as each answer comes (a bare `p-limit` loop with room to spare).
    const store = new MemoryStore();
    let inFlight = sendAll(store, 0);
    expect(inFlight).toHaveLength(8);
    const sizes: number[] = [];
    for (let round = 1; round <= 4; round++) {
      const now = 10 * round;
      const next: number[] = [];
      for (const seq of inFlight) {
        store.answer(D, now, answer(seq, 200, 10));
        next.push(...sendAll(store, now));
      }
      inFlight = next;
      sizes.push(inFlight.length);
    }
    // In the first burst, the 5 that went with half the bound or more in flight; then every one.
    expect(sizes).toEqual([13, 26, 52, 104]);
    expect(store.status(D, 40).requestsPerMinute).toBe(Number.POSITIVE_INFINITY);
  });

  it('cuts the pace once per loss event: refusals of requests sent before the cut cut nothing more', () => {
    const { store, pace } = pacedStore();
    const after = pace();
    expect(after).toBeLessThan(Number.POSITIVE_INFINITY);
    const inFlight = sendAll(store, 100);
    store.answer(D, 101, answer(1, 429, 1)); // sent before the cut, answered late
    expect(pace()).toBe(after);
    for (const seq of inFlight) store.cancel(D, seq);
  });

  it('takes a stray 500 or a lone 503 as an error, not a rate signal: the pace stays', () => {
    const { store, pace } = pacedStore();
    const before = pace();
    let now = 100;
    for (let i = 0; i < 20; i++) {
      now += 1000;
      const [seq] = sendAll(store, now);
      expect(store.answer(D, now + 100, answer(seq!, i % 2 === 0 ? 500 : 503))).toBe('error');
      // Stray: one failure in 20 answers (the space draws up to 5%).
      for (let k = 0; k < 19; k++) {
        const [next] = sendAll(store, now + 200 + 30 * k);
        store.answer(D, now + 210 + 30 * k, answer(next!, 200));
      }
    }
    expect(pace()).toBeGreaterThanOrEqual(before);
  });

  it('takes two 503s in a row as refusals (a gateway, a full queue)', () => {
    const { store } = pacedStore();
    const [served] = sendAll(store, 500);
    store.answer(D, 600, answer(served!, 200));
    const [a] = sendAll(store, 1000);
    expect(store.answer(D, 1001, answer(a!, 503, 1))).toBe('error');
    const [b] = sendAll(store, 2000);
    expect(store.answer(D, 2001, answer(b!, 503, 1))).toBe('refused');
  });

  it('pauses the whole domain for any retry-after', () => {
    const store = new MemoryStore();
    const [seq] = sendAll(store, 0);
    store.answer(D, 5, answer(seq!, 429, 5, { retryAfterMs: 30_000 }));
    const next = store.reserve(D, 10, 1);
    expect(next.seq).toBeUndefined();
    expect(next.waitMs).toBeGreaterThanOrEqual(30_005 - 10);
    expect(store.status(D, 10).blockedUntil).toBe(30_005);
  });

  it('never lets headers lower the pace: remaining gates, it does not slow', () => {
    const { store, pace } = pacedStore();
    const before = pace();
    const [seq] = sendAll(store, 1000);
    const spent = { requests: { limit: 100, remaining: 0, resetMs: 500 }, dialect: 'openai' as const };
    store.answer(D, 1100, answer(seq!, 200, 100, spent));
    // Gated until the reset (sent at 1000 + 500 + a pad), the pace unchanged.
    expect(store.reserve(D, 1100, 1).waitMs).toBeGreaterThanOrEqual(1500 - 1100);
    expect(pace()).toBeGreaterThanOrEqual(before);
  });
});
