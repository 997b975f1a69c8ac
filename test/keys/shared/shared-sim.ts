/**
 * A discrete-event simulation of N processes on one rate domain: each process its own
 * PacingController with lanes; shared, they take every send's slot from one schedule (the model of
 * the RESERVE script: a GCRA without burst, refused past `ahead`), share a pause, and sync every
 * 250 ms (other processes' sends, learned limits), as SharedPool does; separate, each paces alone.
 * A fake clock and a seeded PRNG: deterministic, no wall clock.
 */
import { PacingController } from '../../../src/keys/pacing/controller.js';
import { parseLimits } from '../../../src/keys/pacing/dialects.js';
import { HELD_SLACK_MS, staleSlot } from '../../../src/keys/shared/admission.js';
import { shareableLimits } from '../../../src/keys/shared/merge.js';
import {
  CUT_FRESH_MS,
  LOSS_DEDUP_MS,
  MAX_AHEAD_MS,
  PROBE_RETRY_MS,
  probeWaitMs,
  RECHECK_AFTER_MS,
  SYNC_MS,
} from '../../../src/keys/shared/shared-pool.js';
import type { ServerModel, Verdict } from '../pacing/limiters.js';
import { rng } from '../pacing/sim.js';

/** A domain's shared schedule, as the scripts keep it in Redis. */
export interface Schedule {
  tat: number;
  paused: number;
  slots: number;
  /** After a loss pause the next slot is a probe (`wait`); while it is `out` no other slot is given. */
  probe: 'none' | 'wait' | 'out';
  probeAt: number;
  /** The domain's run of loss events (over every process), and when the last was counted. */
  run: number;
  lossAt: number;
  /** The ceiling (per minute) at which a process last ended the domain's slow start, and when. */
  cut: number;
  cutAt: number;
}

export const newSchedule = (): Schedule => ({
  tat: 0,
  paused: 0,
  slots: 0,
  probe: 'none',
  probeAt: 0,
  run: 0,
  lossAt: Number.NEGATIVE_INFINITY,
  cut: 0,
  cutAt: Number.NEGATIVE_INFINITY,
});

/** The domain's cut, while it is handed on (RESERVE's reply, a sync). */
export const freshCut = (schedule: Schedule, now: number): number | undefined =>
  schedule.cut > 0 && now - schedule.cutAt < CUT_FRESH_MS ? schedule.cut : undefined;

/** The RESERVE script's decision, in TypeScript (the script itself is tested against Redis). */
export function reserveSlot(
  schedule: Schedule,
  now: number,
  cost: number,
  ahead: number,
  probeMs: number,
):
  | { granted: true; delay: number; probe: boolean; slots: number; cut: number | undefined }
  | { granted: false; retry: number; cut: number | undefined } {
  const cut = freshCut(schedule, now);
  if (cut !== undefined) cost = Math.max(cost, Math.ceil(60_000 / cut));
  if (schedule.probe === 'out') {
    const ends = schedule.probeAt + probeMs;
    if (now < ends) return { granted: false, retry: Math.min(PROBE_RETRY_MS, ends - now), cut };
    schedule.probe = 'wait';
  }
  const at = Math.max(schedule.tat, now, schedule.paused);
  if (at - now > ahead) return { granted: false, retry: at - now - ahead, cut };
  schedule.tat = at + cost;
  schedule.slots += 1;
  const probe = schedule.probe === 'wait';
  if (probe) {
    schedule.probe = 'out';
    schedule.probeAt = at;
  }
  return { granted: true, delay: at - now, probe, slots: schedule.slots, cut };
}

/** The LOSS script (scripts.ts): a new loss event of a request sent at `at`; the domain's run sets the pause. */
export function lossPause(
  schedule: Schedule,
  now: number,
  at: number,
  loss: { ms: number; baseMs: number; capMs: number; cutPerMinute?: number | undefined },
  probe: boolean,
): void {
  const counted = probe || at > schedule.lossAt + LOSS_DEDUP_MS;
  if (counted) {
    schedule.run += 1;
    schedule.lossAt = now;
  }
  const cut = loss.cutPerMinute;
  if (cut !== undefined && (counted || schedule.cut <= 0 || cut < schedule.cut)) {
    schedule.cut = cut;
    schedule.cutAt = now;
  }
  let len = loss.ms;
  if (schedule.run >= 2) len = Math.max(len, loss.baseMs * 2 ** (schedule.run - 2));
  len = Math.min(len, loss.capMs);
  if (len <= 0) return;
  schedule.paused = Math.max(schedule.paused, now + len);
  if (probe || schedule.probe !== 'out') schedule.probe = 'wait';
}

/** The SERVED script: a request sent at `at` was served; after the last loss, the run is over. */
export function served(schedule: Schedule, at: number, probe: boolean): void {
  if (probe && schedule.probe === 'out') schedule.probe = 'none';
  if (at > schedule.lossAt) schedule.run = 0;
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
  /** How long a refusal takes to come back, ms (the simulator's latency applies to every answer). @default 0 */
  refusalLatencyMs?: number;
}

export interface SharedSimResult {
  /** Answers over the whole run. */
  ok: number;
  refused: number;
  /** Successes per ms from `measureFromMs` on ÷ the true rate. */
  utilisation: number;
  /** Refused ÷ answered over the whole run. */
  refusedShare: number;
  /**
   * Refusals of requests sent in the second after the domain's first refusal came back (to its
   * process): what the other processes sent before they knew.
   */
  refusedAfterFirst: number;
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
  const schedule = newSchedule();
  let ok = 0;
  let firstRefusal: number | undefined;
  let refusedAfterFirst = 0;
  const answered = { ok: 0, refused: 0 };
  const procs = Array.from({ length: options.processes }, () => ({
    pacer: new PacingController(0),
    busy: 0,
    wakeAt: Number.POSITIVE_INFINITY,
    seen: 0,
    own: 0,
    probe: -1,
    /** The domain's run of losses as this process last heard it (a LOSS reply, a sync). */
    run: { run: 0, lossAt: Number.NEGATIVE_INFINITY },
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
    else {
      answered.refused += 1;
      firstRefusal ??= t;
      if (sentAt > firstRefusal && sentAt < firstRefusal + 1000) refusedAfterFirst += 1;
    }
    if (t >= options.measureFromMs && verdict.status === 200) ok += 1;
    // What the pool tells Redis: a loss pause (a refused probe doubles the domain's), a probe served.
    const loss = p.pacer.takeLoss();
    const probe = p.probe === seq;
    if (probe) p.probe = -1;
    if (options.shared && loss) {
      lossPause(schedule, t, sentAt, loss, probe);
      p.run = { run: schedule.run, lossAt: schedule.lossAt };
    } else if (
      options.shared &&
      verdict.status === 200 &&
      (probe || (p.run.run > 0 && sentAt > p.run.lossAt))
    ) {
      served(schedule, sentAt, probe);
      p.run = { run: 0, lossAt: p.run.lossAt };
    }
    // A 429 with a retry-after that paused this process's domain pauses it for all (the key cools).
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
        const took =
          verdict.status === 200
            ? options.latencyMs * (0.7 + 0.6 * random())
            : (options.refusalLatencyMs ?? 0);
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
      const slot = reserveSlot(
        schedule,
        now,
        cost,
        Math.max(MAX_AHEAD_MS, 2 * cost),
        probeWaitMs(p.pacer.latencyMs()),
      );
      if (slot.cut !== undefined) p.pacer.adoptCut(now, slot.cut);
      if (!slot.granted) {
        p.pacer.onCancel(seq);
        p.busy -= 1;
        p.pacer.defer(now + slot.retry);
        return wake(p, now + slot.retry);
      }
      p.own += 1;
      if (slot.probe) p.probe = seq;
      p.pacer.noteSlot(seq, slot.slots);
      if (slot.delay <= 0) send(p, seq, now);
      else {
        p.pacer.reschedule(seq, now + slot.delay);
        const at = now + slot.delay;
        const waited = slot.delay >= RECHECK_AFTER_MS;
        queue.push(at, () => {
          // A long wait asks again (the CHECK script): a pause or a cut since the slot was reserved.
          if (waited) {
            if (schedule.paused > at) p.pacer.defer(schedule.paused);
            const cut = freshCut(schedule, at);
            if (cut !== undefined) p.pacer.adoptCut(at, cut);
          }
          // Paused since the slot was reserved (a refusal here, or another process's seen at a sync).
          if (p.pacer.heldUntil() > at + HELD_SLACK_MS || staleSlot(p.pacer.slotCost(1), cost)) {
            p.pacer.onCancel(seq);
            p.busy -= 1;
            // The REFUND script: a probe not sent is the next slot's again.
            if (p.probe === seq && schedule.probe === 'out' && schedule.probeAt === at)
              schedule.probe = 'wait';
            if (p.probe === seq) p.probe = -1;
            return dispatch(p, at);
          }
          send(p, seq, at);
        });
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
    const cut = freshCut(schedule, t);
    if (cut !== undefined) p.pacer.adoptCut(t, cut);
    p.run = { run: schedule.run, lossAt: schedule.lossAt };
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
    refusedAfterFirst,
  };
}
