import { describe, expect, it } from 'vitest';
import { PacingController } from '../../../src/keys/pacing/controller.js';
import { type NormalizedLimits, parseLimits } from '../../../src/keys/pacing/dialects.js';

const openai = (limit: number, remaining: number, reset = '1s'): NormalizedLimits =>
  parseLimits(
    {
      'x-ratelimit-limit-requests': String(limit),
      'x-ratelimit-remaining-requests': String(remaining),
      'x-ratelimit-reset-requests': reset,
    },
    0,
  )!;

/** Sends whenever allowed from `from` to `to` (one lane per call) and returns the send times. */
function drain(c: PacingController, from: number, to: number, tokens = 1): number[] {
  const times: number[] = [];
  let now = from;
  while (now < to) {
    const at = c.readyAt(now, tokens);
    if (!Number.isFinite(at) || at >= to) break;
    now = Math.max(now, at);
    c.onSend(now, tokens);
    times.push(now);
  }
  return times;
}

describe('PacingController', () => {
  it('before any answer only a couple of requests go out', () => {
    const c = new PacingController(0);
    expect(drain(c, 0, 10_000)).toHaveLength(2);
    expect(c.readyAt(10_000, 1)).toBe(Number.POSITIVE_INFINITY);
    expect(c.status(10_000)).toMatchObject({ mode: 'slow-start', inFlight: 2, inFlightCap: 2 });
    expect(c.headroom()).toBe(0);
  });

  it('headers: sends go out evenly at the limit less the margin, never in a burst', () => {
    const c = new PacingController(0, { margin: 0.02 });
    const seq = c.onSend(0, 1);
    c.onAnswer(100, { seq, status: 200, latencyMs: 100, headers: openai(600, 599) });
    expect(c.status(100)).toMatchObject({
      mode: 'headers',
      learned: { requestsPerMinute: 600, remainingRequests: 599 },
    });
    const times = drain(c, 100, 60_100);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(Math.min(...gaps)).toBeCloseTo(60_000 / 588, 6);
    expect(Math.max(...gaps)).toBeCloseTo(60_000 / 588, 6);
  });

  it('headers: nothing more once remaining is spent until its reset', () => {
    const c = new PacingController(0);
    const seq = c.onSend(0, 1);
    c.onAnswer(50, { seq, status: 200, latencyMs: 50, headers: openai(100, 1, '20s') });
    const first = c.readyAt(50, 1);
    c.onSend(first, 1);
    // remaining 1 was for the next request; the one after waits for the reset, counted from the
    // send at 0 and a moment past it (the server counted from the request's arrival).
    expect(c.readyAt(first, 1)).toBeGreaterThan(20_000);
    expect(c.readyAt(first, 1)).toBeLessThan(21_000);
  });

  it('a 429 on a probe sent before any headers were known does not make them untrusted', () => {
    const c = new PacingController(0);
    const a = c.onSend(0, 1);
    const b = c.onSend(c.readyAt(0, 1), 1);
    c.onAnswer(1100, { seq: b, status: 429, latencyMs: 100, headers: openai(60, 3, '2s') });
    c.onAnswer(1200, { seq: a, status: 200, latencyMs: 1200, headers: openai(60, 3, '2s') });
    expect(c.status(1200).mode).toBe('headers');
  });

  it('a 429 whose headers say the limit is spent (another client) pauses the domain for its retry-after, headers still trusted', () => {
    const c = new PacingController(0);
    const a = c.onSend(0, 1);
    c.onAnswer(10, { seq: a, status: 200, latencyMs: 10, headers: openai(60, 50, '30s') });
    const at = c.readyAt(10, 1);
    const b = c.onSend(at, 1);
    const spent = { ...openai(60, 0, '5s'), retryAfterMs: 7000 };
    c.onAnswer(at + 10, { seq: b, status: 429, latencyMs: 10, headers: spent });
    expect(c.status(at + 10).mode).toBe('headers');
    expect(c.readyAt(at + 10, 1)).toBeGreaterThanOrEqual(at + 10 + 7000);
  });

  it('a 429 whose headers say spent, without retry-after, waits for the reset', () => {
    const c = new PacingController(0);
    const a = c.onSend(0, 1);
    c.onAnswer(10, { seq: a, status: 200, latencyMs: 10, headers: openai(60, 50, '30s') });
    const at = c.readyAt(10, 1);
    const b = c.onSend(at, 1);
    c.onAnswer(at + 10, { seq: b, status: 429, latencyMs: 10, headers: openai(60, 0, '5s') });
    expect(c.status(at + 10).mode).toBe('headers');
    expect(c.readyAt(at + 10, 1)).toBeGreaterThanOrEqual(at + 10 + 5000);
  });

  it('a 429 while the headers said there was room: headers distrusted, paced from losses below them', () => {
    const c = new PacingController(0);
    const a = c.onSend(0, 1);
    c.onAnswer(10, { seq: a, status: 200, latencyMs: 10, headers: openai(600, 599) });
    const b = c.onSend(c.readyAt(10, 1), 1);
    c.onAnswer(200, { seq: b, status: 429, latencyMs: 10, headers: openai(600, 598) });
    const status = c.status(200);
    expect(status.mode).toBe('observed');
    expect(status.requestsPerMinute).toBeCloseTo(594 * 0.9, 6);
    expect(status.ceilingPerMinute).toBeCloseTo(594, 6);
    // Later headers do not win it back.
    const d = c.onSend(c.readyAt(200, 1), 1);
    c.onAnswer(400, { seq: d, status: 200, latencyMs: 10, headers: openai(600, 597) });
    expect(c.status(400).mode).toBe('observed');
  });

  it('answers without headers make headers mode give way to observation', () => {
    const c = new PacingController(0);
    const a = c.onSend(0, 1);
    c.onAnswer(10, { seq: a, status: 200, latencyMs: 10, headers: openai(600, 599) });
    for (let i = 0; i < 3; i++) {
      const now = 1000 * (i + 1);
      const seq = c.onSend(c.readyAt(now, 1), 1);
      c.onAnswer(now + 10, { seq, status: 200, latencyMs: 10, headers: undefined });
    }
    expect(c.status(5000)).toMatchObject({ mode: 'observed' });
    expect(c.status(5000).requestsPerMinute).toBeCloseTo(594, 6);
  });

  it('retry-after pauses the whole domain, not just the request that got it', () => {
    const c = new PacingController(0, { rpm: 6000 });
    const seqs = drain(c, 0, 30).map((_, i) => i + 1);
    expect(seqs.length).toBeGreaterThan(1);
    c.onAnswer(40, { seq: seqs[0]!, status: 429, latencyMs: 40, headers: { retryAfterMs: 3000 } });
    expect(c.readyAt(40, 1)).toBeGreaterThanOrEqual(3040);
    expect(c.status(40).blockedUntil).toBe(3040);
  });

  it('only served requests feed the latency (a refusal comes back at once and says nothing of service time)', () => {
    const c = new PacingController(0, { rpm: 600 });
    const a = c.onSend(0, 1);
    c.onAnswer(2000, { seq: a, status: 200, latencyMs: 2000, headers: undefined });
    const b = c.onSend(c.readyAt(2000, 1), 1);
    c.onAnswer(2105, { seq: b, status: 429, latencyMs: 5, headers: undefined });
    expect(c.status(2105).latencyMs).toBe(2000);
  });

  it('in flight is bounded by rate × latency × 2 (Little’s law with a margin)', () => {
    const c = new PacingController(0, { rpm: 60_000, margin: 0 });
    const seq = c.onSend(0, 1);
    c.onAnswer(500, { seq, status: 200, latencyMs: 500, headers: undefined });
    // 1,000 a second × 0.5 s × 2 + 1.
    expect(c.inFlightCap()).toBe(1001);
    expect(c.status(500).inFlightCap).toBe(1001);
  });

  it('token pacing: a big request waits its tokens out, and usage settles the estimate', () => {
    const c = new PacingController(0, { tpm: 60_000, margin: 0 });
    c.onSend(0, 1000);
    // 1,000 tokens at 1,000 tokens/s: the next one no sooner than 1 s later.
    expect(c.readyAt(0, 1000)).toBe(1000);
    c.onAnswer(100, { seq: 1, status: 200, latencyMs: 100, headers: undefined, usedTokens: 400 });
    // It used 400, not 1,000: the next send is charged 600 tokens less (0.4 s of spacing, not 1 s).
    expect(c.readyAt(100, 1000)).toBe(1000);
    c.onSend(1000, 1000);
    expect(c.readyAt(1000, 1000)).toBe(1400);
    // Used beyond the estimate: the debt lengthens the next spacing.
    c.onAnswer(1100, { seq: 2, status: 200, latencyMs: 100, headers: undefined, usedTokens: 1500 });
    c.onSend(1400, 1000);
    expect(c.readyAt(1400, 1000)).toBe(2900);
  });

  it('observed mode probes upward after loss-free windows and finds a raised limit', () => {
    const c = new PacingController(0, { aimd: { windowMs: 10_000, probeRequests: 5 } });
    let now = 0;
    let rate = 0;
    // No headers, never a loss: the pace keeps rising, first in slow start, then by probing.
    for (let i = 0; i < 400; i++) {
      now = Math.max(now, c.readyAt(now, 1));
      const seq = c.onSend(now, 1);
      c.onAnswer(now + 5, { seq, status: 200, latencyMs: 5, headers: undefined });
      now += 5;
      const next = c.status(now).requestsPerMinute;
      expect(next).toBeGreaterThanOrEqual(rate);
      rate = next;
    }
    expect(rate).toBeGreaterThan(60);
  });

  it("shared pool: slow start's end is handed on (takeLoss) and adopted once by a pacer still in slow start", () => {
    const ok = (seq: number, at: number) => ({ seq, status: 200, latencyMs: at, headers: undefined });
    const refused = (seq: number) => ({ seq, status: 429, latencyMs: 1, headers: undefined });
    // The process that met the limit: its refusal ends slow start at a ceiling, which it hands on.
    const first = new PacingController(0);
    first.onAnswer(40, ok(first.onSend(0, 1), 40));
    first.onAnswer(141, refused(first.onSend(first.readyAt(40, 1), 1)));
    const loss = first.takeLoss();
    const ceiling = first.status(141).ceilingPerMinute;
    expect(ceiling).toBeGreaterThan(0);
    expect(loss?.cutPerMinute).toBeCloseTo(ceiling!, 9);

    // Another process's pacer, still in slow start with a request out, adopts it.
    const c = new PacingController(0);
    c.onAnswer(40, ok(c.onSend(0, 1), 40));
    const out = c.onSend(c.readyAt(40, 1), 1);
    expect(c.status(100).mode).toBe('slow-start');
    expect(c.adoptCut(150, 600)).toBe(true);
    expect(c.status(150)).toMatchObject({ mode: 'observed', ceilingPerMinute: 600 });
    expect(c.status(150).requestsPerMinute).toBeCloseTo(582, 6);
    expect(c.adoptCut(160, 300)).toBe(false);
    // Its request sent before the cut, refused: the same loss event (no second cut, no pause).
    c.onAnswer(170, refused(out));
    expect(c.takeLoss()).toBeUndefined();
    expect(c.status(170).requestsPerMinute).toBeCloseTo(582, 6);
    // One sent after it, refused: the next loss of the run, so the domain pauses.
    const at = c.readyAt(170, 1);
    c.onAnswer(at + 5, refused(c.onSend(at, 1)));
    const next = c.takeLoss();
    expect(next).toMatchObject({ ms: 500 });
    expect(next?.cutPerMinute).toBeUndefined();
    expect(c.heldUntil()).toBe(at + 505);
  });
});

describe('the send schedule on a busy event loop', () => {
  it('a send a little late keeps the grid (lateness is made up); after an idle spell it starts afresh', () => {
    // 600 a minute configured: one send per 60_000 / (600 × 0.98) ms, no margin on configured limits.
    const c = new PacingController(0, { rpm: 600 });
    const send = (at: number) =>
      c.onAnswer(at, { seq: c.onSend(at, 1), status: 200, latencyMs: 10, headers: undefined });
    send(0);
    const interval = c.readyAt(0, 1);
    expect(interval).toBeGreaterThan(90);
    // The timer fired 30 ms late: the next send is still due one interval after the planned one.
    send(interval + 30);
    expect(c.readyAt(interval + 30, 1)).toBeCloseTo(2 * interval, 6);
    // Idle for seconds: no catching up, one interval from now.
    send(10_000);
    expect(c.readyAt(10_000, 1)).toBeCloseTo(10_000 + interval, 6);
  });
});
