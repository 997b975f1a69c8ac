/**
 * The limiter models as pure policy, driven by a fake clock: exact admission counts over windows,
 * what each model reports as `remaining` and `reset`, token settling, the slots queue.
 */
import { describe, expect, it } from 'vitest';
import { BucketLimiter } from '../../src/sim/limiters/bucket.js';
import { FixedLimiter } from '../../src/sim/limiters/fixed.js';
import { SlidingLimiter } from '../../src/sim/limiters/sliding.js';
import { peakPerSecond, SlotsLimiter } from '../../src/sim/limiters/slots.js';
import type { RateLimiter, RateLimits } from '../../src/sim/limiters/types.js';
import { admit, createGroupBuckets } from '../../src/sim/rate-limit.js';

const UNLIMITED = Number.POSITIVE_INFINITY;

function limits(requests: number, windowMs: number, tokens = UNLIMITED, extra: Partial<RateLimits> = {}) {
  return {
    requests: { limit: requests, windowMs },
    tokens: { limit: tokens, windowMs: extra.tokens?.windowMs ?? windowMs },
    ...(extra.enforceMs !== undefined ? { enforceMs: extra.enforceMs } : {}),
  } satisfies RateLimits;
}

/** Tries one request every `stepMs` from 0 while `t < untilMs`; returns the admitted times. */
function drive(limiter: RateLimiter, l: RateLimits, stepMs: number, untilMs: number, tokens = 1): number[] {
  const admitted: number[] = [];
  for (let t = 0; t < untilMs; t += stepMs) if (limiter.admit(l, tokens, t).allowed) admitted.push(t);
  return admitted;
}

/** The most admitted times in any half-open window [t, t + windowMs). */
function mostInAnyWindow(times: number[], windowMs: number): number {
  let most = 0;
  for (const [i, start] of times.entries()) {
    const inside = times.slice(i).filter((t) => t < start + windowMs).length;
    most = Math.max(most, inside);
  }
  return most;
}

describe('bucket', () => {
  it('without enforceMs answers exactly as the original token buckets', () => {
    const l = limits(5, 1000, 300);
    const limiter = new BucketLimiter(0);
    const original = createGroupBuckets(0);
    const originalLimits = {
      requests: { capacity: 5, windowMs: 1000 },
      tokens: { capacity: 300, windowMs: 1000 },
    };
    for (let t = 0; t < 5000; t += 37) {
      const tokens = 20 + (t % 90);
      const mine = limiter.admit(l, tokens, t);
      const theirs = admit(original, originalLimits, tokens, t);
      expect(mine.allowed).toBe(theirs.allowed);
      if (!mine.allowed && !theirs.allowed) {
        expect(mine.kind).toBe(theirs.kind);
        expect(mine.retryAfterMs).toBeCloseTo(theirs.retryAfterMs, 9);
      }
    }
  });

  it('admits the whole capacity at once, then one per refill interval', () => {
    // 60 per 60 s: a full bucket of 60, then one per second.
    const admitted = drive(new BucketLimiter(0), limits(60, 60_000), 100, 10_000);
    expect(admitted).toHaveLength(60 + 9);
  });

  it('with enforceMs a per-minute limit is enforced per second: no burst beyond limit / 60', () => {
    const limiter = new BucketLimiter(0);
    const l = limits(60, 60_000, UNLIMITED, { enforceMs: 1000 });
    const admitted = drive(limiter, l, 100, 10_000);
    expect(admitted).toEqual([0, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000]);
    // The headers report the whole minute's bucket, which has room.
    expect(limiter.view(l, 9900).requests).toMatchObject({ limit: 60, remaining: 59 });
    const refused = limiter.admit(l, 1, 9950);
    expect(refused).toMatchObject({ allowed: false, kind: 'requests', windowMs: 1000, tooLarge: false });
    expect(refused.allowed === false && refused.retryAfterMs).toBeCloseTo(50);
  });

  it('settles tokens to the actual usage: refunds the difference, or charges it', () => {
    const limiter = new BucketLimiter(0);
    const l = limits(UNLIMITED, 3_600_000, 100);
    const first = limiter.admit(l, 60, 0);
    expect(limiter.view(l, 0).tokens?.remaining).toBe(40);
    if (!first.allowed) throw new Error('refused');
    limiter.settle(l, first.ticket, 22, 0);
    expect(limiter.view(l, 0).tokens?.remaining).toBe(78);
    const second = limiter.admit(l, 10, 0);
    if (!second.allowed) throw new Error('refused');
    limiter.settle(l, second.ticket, 50, 0);
    expect(limiter.view(l, 0).tokens?.remaining).toBe(28);
  });

  it('counts requests per day beside tokens per minute (Groq)', () => {
    const limiter = new BucketLimiter(0);
    const l = limits(3, 86_400_000, 6000, { tokens: { limit: 6000, windowMs: 60_000 } });
    expect(drive(limiter, l, 1000, 10_000, 1000)).toEqual([0, 1000, 2000]);
    const view = limiter.view(l, 10_000);
    expect(view.requests?.remaining).toBe(0);
    expect(view.requests?.resetMs).toBeCloseTo(3 * 28_800_000 - 10_000);
    // 3000 tokens taken by 2 s; 100 per second come back: full again at 32 s.
    expect(view.tokens).toMatchObject({ remaining: 4000, windowMs: 60_000 });
    expect(view.tokens?.resetMs).toBeCloseTo(20_000);
  });
});

describe('sliding', () => {
  it('admits at most the limit in any window, exactly limit per window over time', () => {
    const limiter = new SlidingLimiter();
    const admitted = drive(limiter, limits(3, 1000), 100, 10_000);
    expect(admitted).toHaveLength(30);
    expect(admitted.slice(0, 6)).toEqual([0, 100, 200, 1000, 1100, 1200]);
    expect(mostInAnyWindow(admitted, 1000)).toBe(3);
  });

  it('refuses a burst across a window boundary', () => {
    const limiter = new SlidingLimiter();
    const l = limits(3, 1000);
    const times = [900, 950, 999, 1000, 1001, 1002];
    expect(times.map((t) => limiter.admit(l, 1, t).allowed)).toEqual([true, true, true, false, false, false]);
  });

  it('reset and retry-after are the time until the oldest counted request leaves', () => {
    const limiter = new SlidingLimiter();
    const l = limits(2, 1000);
    limiter.admit(l, 1, 100);
    limiter.admit(l, 1, 400);
    expect(limiter.view(l, 500).requests).toEqual({ limit: 2, windowMs: 1000, remaining: 0, resetMs: 600 });
    const refused = limiter.admit(l, 1, 500);
    expect(refused).toMatchObject({ allowed: false, retryAfterMs: 600, used: 2 });
    expect(limiter.view(l, 1100).requests).toEqual({ limit: 2, windowMs: 1000, remaining: 1, resetMs: 300 });
    expect(limiter.view(l, 1400).requests).toEqual({ limit: 2, windowMs: 1000, remaining: 2, resetMs: 0 });
  });

  it('weighs tokens: waits until enough have left, refuses what can never fit', () => {
    const limiter = new SlidingLimiter();
    const l = limits(UNLIMITED, 1000, 100);
    expect(limiter.admit(l, 60, 0).allowed).toBe(true);
    expect(limiter.admit(l, 30, 500).allowed).toBe(true);
    const refused = limiter.admit(l, 20, 600);
    expect(refused).toMatchObject({ allowed: false, kind: 'tokens', retryAfterMs: 400, used: 90 });
    expect(limiter.admit(l, 20, 1000).allowed).toBe(true);
    expect(limiter.admit(l, 101, 5000)).toMatchObject({ allowed: false, tooLarge: true });
  });

  it('settles a counted request’s tokens; one that left the window changes nothing', () => {
    const limiter = new SlidingLimiter();
    const l = limits(UNLIMITED, 1000, 100);
    const first = limiter.admit(l, 60, 0);
    if (!first.allowed) throw new Error('refused');
    limiter.settle(l, first.ticket, 22, 10);
    expect(limiter.view(l, 10).tokens?.remaining).toBe(78);
    expect(limiter.admit(l, 70, 20).allowed).toBe(true);
    const late = limiter.admit(l, 8, 30);
    if (!late.allowed) throw new Error('refused');
    limiter.settle(l, late.ticket, 0, 2000);
    expect(limiter.view(l, 2000).tokens?.remaining).toBe(100);
  });
});

describe('fixed', () => {
  it('admits the limit in each aligned window', () => {
    const admitted = drive(new FixedLimiter(), limits(3, 1000), 100, 10_000);
    expect(admitted).toHaveLength(30);
    expect(admitted.slice(0, 6)).toEqual([0, 100, 200, 1000, 1100, 1200]);
  });

  it('allows twice the limit across a window boundary', () => {
    const limiter = new FixedLimiter();
    const l = limits(3, 1000);
    const times = [900, 950, 999, 1000, 1001, 1002, 1003];
    expect(times.map((t) => limiter.admit(l, 1, t).allowed)).toEqual([
      true,
      true,
      true,
      true,
      true,
      true,
      false,
    ]);
    expect(mostInAnyWindow([900, 950, 999, 1000, 1001, 1002], 1000)).toBe(6);
  });

  it('reset and retry-after are the time until the window ends', () => {
    const limiter = new FixedLimiter();
    const l = limits(1, 60_000);
    limiter.admit(l, 1, 125_000);
    expect(limiter.view(l, 125_000).requests).toEqual({
      limit: 1,
      windowMs: 60_000,
      remaining: 0,
      resetMs: 55_000,
    });
    expect(limiter.admit(l, 1, 150_000)).toMatchObject({ allowed: false, retryAfterMs: 30_000 });
    expect(limiter.admit(l, 1, 180_000).allowed).toBe(true);
  });

  it('with a phase, its windows begin at the phase plus multiples of the window', () => {
    const limiter = new FixedLimiter(250);
    const l = limits(2, 1000);
    expect(limiter.admit(l, 1, 0).allowed).toBe(true);
    expect(limiter.admit(l, 1, 100).allowed).toBe(true);
    expect(limiter.admit(l, 1, 200)).toMatchObject({ allowed: false, retryAfterMs: 50 });
    expect(limiter.admit(l, 1, 250).allowed).toBe(true);
    expect(limiter.view(l, 300).requests).toMatchObject({ remaining: 1, resetMs: 950 });
  });

  it('settles tokens within the window they were charged in only', () => {
    const limiter = new FixedLimiter();
    const l = limits(UNLIMITED, 1000, 100);
    const first = limiter.admit(l, 60, 0);
    if (!first.allowed) throw new Error('refused');
    limiter.settle(l, first.ticket, 22, 500);
    expect(limiter.view(l, 500).tokens?.remaining).toBe(78);
    const second = limiter.admit(l, 50, 900);
    if (!second.allowed) throw new Error('refused');
    limiter.settle(l, second.ticket, 0, 1100);
    expect(limiter.view(l, 1100).tokens?.remaining).toBe(100);
    expect(limiter.admit(l, 101, 1100)).toMatchObject({ allowed: false, tooLarge: true });
  });
});

describe('slots', () => {
  it('serves N at once, queues Q behind them, refuses one more', () => {
    const slots = new SlotsLimiter({ slots: 2, queue: 1 }, 0);
    expect(slots.admit(100, 0)).toEqual({ allowed: true, delayMs: 100, position: 0 });
    expect(slots.admit(100, 0)).toEqual({ allowed: true, delayMs: 100, position: 0 });
    expect(slots.admit(100, 0)).toEqual({ allowed: true, delayMs: 200, position: 0 });
    expect(slots.admit(100, 0)).toEqual({ allowed: false, kind: 'busy', waiting: 1 });
    expect(slots.admit(100, 50)).toMatchObject({ allowed: false });
    expect(slots.waiting(100)).toBe(0);
    expect(slots.busy(100)).toBe(1);
    expect(slots.admit(100, 100)).toEqual({ allowed: true, delayMs: 100, position: 0 });
  });

  it('latency is the service time times the position in the queue', () => {
    const slots = new SlotsLimiter({ slots: 1, queue: 5 }, 0);
    const delays = Array.from({ length: 7 }, () => slots.admit(100, 0));
    expect(delays.map((d) => (d.allowed ? d.delayMs : 'busy'))).toEqual([
      100,
      200,
      300,
      400,
      500,
      600,
      'busy',
    ]);
    expect(delays.map((d) => (d.allowed ? d.position : -1))).toEqual([0, 0, 1, 2, 3, 4, -1]);
  });

  it('a closed loop of clients gets exactly the peak throughput, slots × 1000 / service time', () => {
    const slots = new SlotsLimiter({ slots: 2, queue: 8 }, 0);
    expect(peakPerSecond(2, 100)).toBe(20);
    // 8 clients, each sending its next request when the last one is answered, for 10 s.
    let served = 0;
    const next: number[] = Array.from({ length: 8 }, () => 0);
    for (;;) {
      const client = next.indexOf(Math.min(...next));
      const now = next[client] as number;
      if (now >= 10_000) break;
      const admission = slots.admit(100, now);
      if (!admission.allowed) throw new Error('the queue never fills in a closed loop of 8');
      next[client] = now + admission.delayMs;
      if (next[client] <= 10_000) served += 1;
    }
    expect(served).toBe(200);
    expect(peakPerSecond(4, 0)).toBeNull();
  });
});

describe('batching (continuous batching)', () => {
  it('a request takes base + perRunningMs × the requests running when it starts, itself included', () => {
    const batch = new SlotsLimiter({ slots: 3, queue: 2, perRunningMs: 10 }, 0);
    const delays = Array.from({ length: 6 }, () => batch.admit(100, 0));
    expect(delays.map((d) => (d.allowed ? d.delayMs : 'busy'))).toEqual([
      // alone, then beside 1 and 2 others
      110,
      120,
      130,
      // the 4th starts at 110 (the 1st slot free) beside the 2 still running: 110 + 130
      240,
      // the 5th at 120 beside 2 running: 120 + 130
      250,
      'busy',
    ]);
  });

  it('throughput grows with the batch up to the peak, slots × 1000 / (base + perRunningMs × slots)', () => {
    const closedLoop = (clients: number) => {
      const batch = new SlotsLimiter({ slots: 4, queue: 16, perRunningMs: 25 }, 0);
      let served = 0;
      const next: number[] = Array.from({ length: clients }, () => 0);
      for (;;) {
        const client = next.indexOf(Math.min(...next));
        const now = next[client] as number;
        if (now >= 10_000) break;
        const admission = batch.admit(100, now);
        if (!admission.allowed) throw new Error('the queue never fills in this closed loop');
        next[client] = now + admission.delayMs;
        if (next[client] <= 10_000) served += 1;
      }
      return served / 10;
    };
    // 1 client: 1000 / 125 ms; 4 clients fill the batch: 4 × 1000 / 200 ms = the peak.
    expect(closedLoop(1)).toBe(8);
    expect(peakPerSecond(4, 100, 25)).toBe(20);
    expect(closedLoop(4)).toBe(20);
    // More clients than slots only wait in the queue: no more throughput.
    expect(closedLoop(12)).toBeCloseTo(20, 0);
  });
});
