/**
 * A discrete-event simulation of N processes on one rate domain: each process its own
 * PacingController with lanes; shared, they take every send's slot from one schedule (the model of
 * the RESERVE script: a GCRA without burst, refused past `ahead`), share a pause, and sync every
 * 250 ms (other processes' sends, learned limits), as SharedPool does; separate, each paces alone.
 * A fake clock and a seeded PRNG: deterministic, no wall clock.
 */
import { PacingController } from '../../../src/keys/pacing/controller.js';
import { parseLimits } from '../../../src/keys/pacing/dialects.js';
import { shareableLimits } from '../../../src/keys/shared/merge.js';
import { MAX_AHEAD_MS, SYNC_MS } from '../../../src/keys/shared/shared-pool.js';
import type { ServerModel, Verdict } from '../pacing/limiters.js';
import { rng } from '../pacing/sim.js';

/** The RESERVE script's decision, in TypeScript (the script itself is tested against Redis). */
export function reserveSlot(
  schedule: { tat: number; paused: number; slots: number },
  now: number,
  cost: number,
  ahead: number,
): { granted: true; delay: number } | { granted: false; retry: number } {
  const at = Math.max(schedule.tat, now, schedule.paused);
  if (at - now > ahead) return { granted: false, retry: at - now - ahead };
  schedule.tat = at + cost;
  schedule.slots += 1;
  return { granted: true, delay: at - now };
}

export interface SharedSimOptions {
  server: ServerModel;
  /** The true limit, requests per ms. */
  trueRate: number;
  latencyMs: number;
  processes: number;
  lanes: number;
  durationMs: number;
  measureFromMs: number;
  seed: number;
  shared: boolean;
}

export interface SharedSimResult {
  /** Answers over the whole run. */
  ok: number;
  refused: number;
  /** Successes per ms from `measureFromMs` on ÷ the true rate. */
  utilisation: number;
  /** Refused ÷ answered over the whole run. */
  refusedShare: number;
}

class Queue {
  private events: Array<{ t: number; n: number; fn: () => void }> = [];
  private n = 0;
  push(t: number, fn: () => void): void {
    this.events.push({ t, n: this.n++, fn });
  }
  pop(): { t: number; fn: () => void } | undefined {
    if (this.events.length === 0) return undefined;
    let best = 0;
    for (let i = 1; i < this.events.length; i++) {
      const e = this.events[i]!;
      const b = this.events[best]!;
      if (e.t < b.t || (e.t === b.t && e.n < b.n)) best = i;
    }
    return this.events.splice(best, 1)[0];
  }
}

export function simulateShared(options: SharedSimOptions): SharedSimResult {
  const random = rng(options.seed);
  const queue = new Queue();
  const schedule = { tat: 0, paused: 0, slots: 0 };
  let ok = 0;
  const answered = { ok: 0, refused: 0 };
  const procs = Array.from({ length: options.processes }, () => ({
    pacer: new PacingController(0),
    busy: 0,
    wakeAt: Number.POSITIVE_INFINITY,
    seen: 0,
    own: 0,
  }));
  type Proc = (typeof procs)[number];

  const answer = (p: Proc, t: number, seq: number, sentAt: number, verdict: Verdict) => {
    p.busy -= 1;
    p.pacer.onAnswer(t, {
      seq,
      status: verdict.status,
      latencyMs: t - sentAt,
      headers: parseLimits(verdict.headers, t),
    });
    if (verdict.status === 200) answered.ok += 1;
    else answered.refused += 1;
    if (t >= options.measureFromMs && verdict.status === 200) ok += 1;
    // A 429 that paused this process's domain pauses it for all (the key goes cooling).
    const until = p.pacer.status(t).blockedUntil;
    if (options.shared && verdict.status === 429 && until !== undefined && until > t)
      schedule.paused = Math.max(schedule.paused, until);
    dispatch(p, t);
  };

  const send = (p: Proc, seq: number, now: number) => {
    const up = 1 + 2 * random();
    const arrival = now + up;
    const server = options.server;
    if (server.kind === 'rate') {
      queue.push(arrival, () => {
        const verdict = server.admit(arrival, 1);
        const took = verdict.status === 200 ? options.latencyMs * (0.7 + 0.6 * random()) : 0;
        queue.push(arrival + took + up, () => answer(p, arrival + took + up, seq, now, verdict));
      });
    } else {
      queue.push(arrival, () =>
        server.arrive(
          arrival,
          (done, verdict) => queue.push(done + up, () => answer(p, done + up, seq, now, verdict)),
          (t, fn) => queue.push(t, fn),
        ),
      );
    }
  };

  const wake = (p: Proc, at: number) => {
    if (!(at < p.wakeAt) || !Number.isFinite(at)) return;
    p.wakeAt = at;
    queue.push(at, () => {
      if (p.wakeAt === at) p.wakeAt = Number.POSITIVE_INFINITY;
      dispatch(p, at);
    });
  };

  const dispatch = (p: Proc, now: number) => {
    while (p.busy < options.lanes) {
      const at = p.pacer.readyAt(now, 1);
      if (at > now) return wake(p, at);
      const seq = p.pacer.onSend(now, 1);
      p.busy += 1;
      if (!options.shared) {
        send(p, seq, now);
        continue;
      }
      const cost = p.pacer.slotCost(1);
      const slot = reserveSlot(schedule, now, cost, Math.max(MAX_AHEAD_MS, 2 * cost));
      if (!slot.granted) {
        p.pacer.onCancel(seq);
        p.busy -= 1;
        p.pacer.defer(now + slot.retry);
        return wake(p, now + slot.retry);
      }
      p.own += 1;
      if (slot.delay <= 0) send(p, seq, now);
      else {
        p.pacer.reschedule(seq, now + slot.delay);
        queue.push(now + slot.delay, () => send(p, seq, now + slot.delay));
      }
    }
  };

  const sync = (p: Proc, t: number) => {
    p.pacer.noteSharedSends(schedule.slots - p.seen - p.own);
    p.seen = schedule.slots;
    p.own = 0;
    for (const other of procs) {
      const limits = shareableLimits(other.pacer.sharedLimits());
      if (limits) p.pacer.adopt(t, limits);
    }
    if (schedule.paused > t) p.pacer.defer(schedule.paused);
    dispatch(p, t);
    if (t + SYNC_MS <= options.durationMs) queue.push(t + SYNC_MS, () => sync(p, t + SYNC_MS));
  };

  procs.forEach((p, i) => {
    queue.push(0, () => dispatch(p, 0));
    if (options.shared)
      queue.push(SYNC_MS * (1 + i / procs.length), () => sync(p, SYNC_MS * (1 + i / procs.length)));
  });
  for (let event = queue.pop(); event && event.t <= options.durationMs; event = queue.pop()) event.fn();
  const span = options.durationMs - options.measureFromMs;
  return {
    ok: answered.ok,
    refused: answered.refused,
    utilisation: ok / (options.trueRate * span),
    refusedShare: answered.refused / Math.max(1, answered.ok + answered.refused),
  };
}
