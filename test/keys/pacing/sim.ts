/**
 * A discrete-event simulation of one rate domain: a fake clock, an event queue, a client with N lanes
 * that sends through the pacing law (an in-memory domain store), and one of the simulator's limiter
 * models (`model-servers.ts`). Deterministic for a seed; no wall clock anywhere.
 */
import type { Sample } from '../../../src/keys/domain/law.js';
import { type DomainConfig, MemoryStore } from '../../../src/keys/domain/store.js';
import type { PacingStatus } from '../../../src/keys/pacing/controller-types.js';
import { parseLimits } from '../../../src/keys/pacing/dialects.js';
import type { ServerModel, Verdict } from './model-servers.js';

/** mulberry32: a small seeded PRNG. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Event {
  t: number;
  n: number;
  fn: () => void;
}

export class EventQueue {
  private heap: Event[] = [];
  private n = 0;
  push(t: number, fn: () => void): void {
    const heap = this.heap;
    heap.push({ t, n: this.n++, fn });
    let i = heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(heap[i]!, heap[p]!)) break;
      [heap[i], heap[p]] = [heap[p]!, heap[i]!];
      i = p;
    }
  }
  pop(): Event | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && before(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && before(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: Event, b: Event): boolean {
  return a.t < b.t || (a.t === b.t && a.n < b.n);
}

/** What the simulation drives: the law, or a baseline with the same four calls. */
export interface SimPacer {
  readyAt(now: number, tokens: number): number;
  onSend(now: number, tokens: number): number;
  onAnswer(now: number, answer: Sample): void;
  status(now: number): PacingStatus;
}

/** The law on one in-memory domain, as the four calls (a send the store allowed is taken at once). */
export function lawPacer(config: DomainConfig = {}): SimPacer {
  const store = new MemoryStore();
  store.open('domain', 0, config);
  let allowed: { at: number; seq: number } | undefined;
  return {
    readyAt(now, tokens) {
      if (allowed?.at === now) return now;
      const reservation = store.reserve('domain', now, tokens);
      if (reservation.seq === undefined) return now + reservation.waitMs;
      allowed = { at: now, seq: reservation.seq };
      return now;
    },
    onSend() {
      const seq = allowed!.seq;
      allowed = undefined;
      return seq;
    },
    onAnswer: (now, answer) => void store.answer('domain', now, answer),
    status: (now) => store.status('domain', now),
  };
}

export interface SimOptions {
  server: ServerModel;
  /** The true limit, requests per ms (for a slot server, its peak throughput). */
  trueRate: number;
  /** Mean time a rate-limited server takes to answer an accepted request (x 0.7..1.3). */
  latencyMs: number;
  lanes: number;
  durationMs: number;
  /** Figures count answers from this time on. */
  measureFromMs: number;
  /** Length of the buckets convergence is judged over. */
  bucketMs: number;
  seed: number;
  /** The domain's configured limits (`rpm`, `tpm`). */
  controller?: DomainConfig;
  /** Each request's tokens: counted at admission (prompt + max_tokens) and really used. @default 1 and 1 */
  tokens?: (random: () => number) => { estimate: number; used: number };
  /** Whether answers tell the pacer their usage. @default true */
  reportUsage?: boolean;
  /** Another pacer to drive instead (a baseline to compare against). */
  pacer?: SimPacer;
  /** Called once per bucket with the controller's status (for diagnosis). */
  trace?: (t: number, status: PacingStatus, okInBucket: number, refusedInBucket: number) => void;
}

export interface SimResult {
  sent: number;
  ok: number;
  refused: number;
  /** Successes per ms over the measured span ÷ the true rate. */
  utilisation: number;
  /** Tokens used by successes per ms over the measured span. */
  tokensPerMs: number;
  /** Refused ÷ answered over the measured span. */
  refusedShare: number;
  /** Start of the first bucket from which every bucket had utilisation >= 0.9 and <= 5% refused. */
  convergedAtMs: number;
  maxInFlight: number;
  status: PacingStatus;
}

export function simulate(options: SimOptions): SimResult {
  const random = rng(options.seed);
  const queue = new EventQueue();
  const schedule = (t: number, fn: () => void) => queue.push(t, fn);
  const controller: SimPacer = options.pacer ?? lawPacer(options.controller);
  const buckets = Math.ceil(options.durationMs / options.bucketMs);
  const okIn = new Array<number>(buckets).fill(0);
  const refusedIn = new Array<number>(buckets).fill(0);
  let busy = 0;
  let sent = 0;
  let ok = 0;
  let refused = 0;
  let maxInFlight = 0;
  let tokensOk = 0;
  let wakeAt = Number.POSITIVE_INFINITY;

  const answer = (t: number, seq: number, sentAt: number, verdict: Verdict, used: number) => {
    busy -= 1;
    controller.onAnswer(t, {
      seq,
      status: verdict.status,
      latencyMs: t - sentAt,
      headers: parseLimits(verdict.headers, t),
      rawHeaders: verdict.headers,
      usedTokens: options.reportUsage === false ? undefined : verdict.status === 200 ? used : 0,
    } as Parameters<SimPacer['onAnswer']>[1]);
    const bucket = Math.min(buckets - 1, Math.floor(t / options.bucketMs));
    if (verdict.status === 200) okIn[bucket]! += 1;
    else refusedIn[bucket]! += 1;
    if (t >= options.measureFromMs) {
      if (verdict.status === 200) {
        ok += 1;
        tokensOk += used;
      } else refused += 1;
    }
    dispatch(t);
  };

  // The next request, drawn ahead so the pacer can be asked about its tokens.
  let next: { estimate: number; used: number } | undefined;
  const upcoming = () => {
    next ??= options.tokens ? options.tokens(random) : { estimate: 1, used: 1 };
    return next;
  };

  const send = (now: number) => {
    const { estimate, used } = upcoming();
    next = undefined;
    const seq = controller.onSend(now, estimate);
    busy += 1;
    sent += 1;
    maxInFlight = Math.max(maxInFlight, busy);
    const up = 1 + 2 * random();
    const arrival = now + up;
    const server = options.server;
    if (server.kind === 'rate') {
      schedule(arrival, () => {
        const verdict = server.admit(arrival, estimate);
        const took = verdict.status === 200 ? options.latencyMs * (0.7 + 0.6 * random()) : 0;
        const back = arrival + took + up;
        const { settle } = verdict;
        if (verdict.status === 200 && settle) schedule(arrival + took, () => settle(arrival + took, used));
        schedule(back, () => answer(back, seq, now, verdict, used));
      });
    } else {
      schedule(arrival, () =>
        server.arrive(
          arrival,
          (done, verdict) => schedule(done + up, () => answer(done + up, seq, now, verdict, used)),
          schedule,
        ),
      );
    }
  };

  const dispatch = (now: number) => {
    while (busy < options.lanes) {
      const at = controller.readyAt(now, upcoming().estimate);
      if (at <= now) {
        send(now);
        continue;
      }
      if (Number.isFinite(at) && at < wakeAt) {
        wakeAt = at;
        schedule(at, () => {
          if (wakeAt === at) wakeAt = Number.POSITIVE_INFINITY;
          dispatch(at);
        });
      }
      break;
    }
  };

  if (options.trace) {
    const trace = options.trace;
    for (let i = 1; i <= buckets; i++) {
      const t = i * options.bucketMs;
      schedule(t, () => trace(t, controller.status(t), okIn[i - 1]!, refusedIn[i - 1]!));
    }
  }
  schedule(0, () => dispatch(0));
  for (let event = queue.pop(); event && event.t <= options.durationMs; event = queue.pop()) event.fn();

  const span = options.durationMs - options.measureFromMs;
  const expectedPerBucket = options.trueRate * options.bucketMs;
  let convergedAt = 0;
  for (let i = 0; i < buckets - 1; i++) {
    const answered = okIn[i]! + refusedIn[i]!;
    const good = okIn[i]! >= 0.9 * expectedPerBucket - 1 && refusedIn[i]! <= 0.05 * answered + 1;
    if (!good) convergedAt = (i + 1) * options.bucketMs;
  }
  return {
    sent,
    ok,
    refused,
    utilisation: ok / (options.trueRate * span),
    tokensPerMs: tokensOk / span,
    refusedShare: ok + refused === 0 ? 0 : refused / (ok + refused),
    convergedAtMs: convergedAt,
    maxInFlight,
    status: controller.status(options.durationMs),
  };
}
