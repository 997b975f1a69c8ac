/**
 * The pacing law's recovery rules (docs/pacing.md, rules 2–4 and 7), on the in-memory store with a
 * fake clock and a small closed-loop client: a run of refusals is undone in round trips, not
 * thousands of answers; a refusal before anything was served paces at one request per its round
 * trip; 503s that come often are refusals; headers that show room grow the in-flight bound.
 */
import { describe, expect, it } from 'vitest';
import type { Sample } from '../../../src/keys/domain/law.js';
import { MemoryStore } from '../../../src/keys/domain/store.js';

const D = 'domain';

const sample = (seq: number, status: number, latencyMs: number, headers?: Sample['headers']): Sample => ({
  seq,
  status,
  latencyMs,
  headers,
});

/**
 * A client with `lanes` lanes against a server that answers after `latencyMs`, refusing (429 at
 * once, 2 ms) while `refusing(t)` holds; runs until `untilMs` and returns the answers served.
 */
function run(
  store: MemoryStore,
  opts: {
    lanes: number;
    latencyMs: number;
    fromMs: number;
    untilMs: number;
    refusing: (t: number) => boolean;
  },
): { served: number; refused: number } {
  const due: Array<{ t: number; seq: number; status: number; latency: number }> = [];
  let now = opts.fromMs;
  let inFlight = 0;
  let served = 0;
  let refused = 0;
  while (now < opts.untilMs) {
    let next = Number.POSITIVE_INFINITY;
    while (inFlight < opts.lanes) {
      const r = store.reserve(D, now, 1);
      if (r.seq === undefined) {
        next = now + r.waitMs;
        break;
      }
      inFlight += 1;
      const refuse = opts.refusing(now);
      const latency = refuse ? 2 : opts.latencyMs;
      due.push({ t: now + latency, seq: r.seq, status: refuse ? 429 : 200, latency });
    }
    due.sort((a, b) => a.t - b.t);
    const first = due[0];
    now = Math.max(now + 0.001, Math.min(next, first?.t ?? Number.POSITIVE_INFINITY));
    while (due.length > 0 && due[0]!.t <= now) {
      const a = due.shift()!;
      inFlight -= 1;
      store.answer(D, a.t, sample(a.seq, a.status, a.latency));
      if (a.status === 200) served += 1;
      else refused += 1;
    }
  }
  // (The requests still out at the end are given up: a phase that follows starts with none in flight.)
  for (const a of due) store.cancel(D, a.seq);
  return { served, refused };
}

const perSecond = (store: MemoryStore, now: number) => store.status(D, now).requestsPerMinute / 60;

describe('the pacing law recovers', () => {
  it('a refusal before anything was served paces at one request per its round trip, not at the first burst', () => {
    const store = new MemoryStore();
    const seqs: number[] = [];
    for (let r = store.reserve(D, 0, 1); r.seq !== undefined; r = store.reserve(D, 0, 1)) seqs.push(r.seq);
    // The whole first burst went at once; one is refused 4 ms later, before any answer was served.
    store.answer(D, 4, sample(seqs[1]!, 429, 4));
    // One per round trip: 1/4 ms = 250/s, times the cut.
    expect(perSecond(store, 4)).toBeLessThanOrEqual(250);
    expect(perSecond(store, 4)).toBeGreaterThan(100);
  });

  it('after a spent window (a run of refusals with nothing served), climbs back to the good pace in round trips', () => {
    const store = new MemoryStore();
    // 2 s of a server with room at 50 ms latency: the pace is found and held.
    const windowEnd = 10_000;
    const limitPerMs = 0.1; // 100/s: refuse whatever goes faster, measured per 100 ms slice
    const slices = new Map<number, number>();
    const refusing = (t: number) => {
      if (t >= windowEnd && t < windowEnd + 3000) return true; // the window is spent for 3 s
      const slice = Math.floor(t / 100);
      const count = (slices.get(slice) ?? 0) + 1;
      slices.set(slice, count);
      return count > limitPerMs * 100;
    };
    run(store, { lanes: 64, latencyMs: 50, fromMs: 0, untilMs: windowEnd, refusing });
    const held = perSecond(store, windowEnd);
    expect(held).toBeGreaterThan(50);
    run(store, { lanes: 64, latencyMs: 50, fromMs: windowEnd, untilMs: windowEnd + 3000, refusing });
    const spent = perSecond(store, windowEnd + 3000);
    expect(spent).toBeLessThan(held / 4);
    // Back within a few times the spent spell (backoff overshoots it by at most its length, then
    // slow start doubles per answer): not 0.1% per answer, which would take thousands of answers.
    const back = windowEnd + 3000 + 9000;
    run(store, { lanes: 64, latencyMs: 50, fromMs: windowEnd + 3000, untilMs: back, refusing });
    expect(perSecond(store, back)).toBeGreaterThan(0.5 * held);
  });

  it('takes 503s that come often as refusals (a full queue), and rare ones as errors', () => {
    const store = new MemoryStore();
    let now = 0;
    const verdicts: string[] = [];
    for (let i = 0; i < 40; i++) {
      const r = store.reserve(D, now, 1);
      if (r.seq === undefined) {
        now += r.waitMs;
        i -= 1;
        continue;
      }
      // Every third answer a 503 with a served one between: never two in a row.
      const status = i % 3 === 2 ? 503 : 200;
      verdicts.push(store.answer(D, now + 10, sample(r.seq, status, 10)));
      now += 20;
    }
    const of503 = verdicts.filter((_, i) => i % 3 === 2);
    expect(of503.slice(0, 1)).toEqual(['error']);
    expect(of503.slice(-5)).toEqual(['refused', 'refused', 'refused', 'refused', 'refused']);
  });

  it('grows the in-flight bound by what the headers say is left, up to doubling per answer', () => {
    const store = new MemoryStore();
    const seqs: number[] = [];
    for (let r = store.reserve(D, 0, 1); r.seq !== undefined; r = store.reserve(D, 0, 1)) seqs.push(r.seq);
    const room = { requests: { limit: 10_000, remaining: 9_000, resetMs: 60 }, dialect: 'openai' as const };
    // (The last of the first burst went with the bound binding.)
    store.answer(D, 1000, sample(seqs[7]!, 200, 1000, room));
    expect(store.status(D, 1000).inFlightCap).toBe(16);
    store.answer(D, 1000, sample(seqs[6]!, 200, 1000, room));
    expect(store.status(D, 1000).inFlightCap).toBe(32);
  });
});

describe('the token gate', () => {
  it('counts the tokens sent since the newest headers, not every token ever sent', () => {
    const store = new MemoryStore();
    // A bucket that refills as fast as it is spent: every answer says 5,000 tokens are left.
    const room = {
      tokens: { limit: 10_000, remaining: 5_000, resetMs: 60_000 },
      dialect: 'openai' as const,
    };
    let now = 0;
    for (let i = 0; i < 100; i++) {
      const r = store.reserve(D, now, 100);
      expect(r.seq, `request ${i} (${100 * i} tokens sent in all)`).toBeDefined();
      store.answer(D, now + 5, sample(r.seq!, 200, 5, room));
      now += 10;
    }
  });
});
