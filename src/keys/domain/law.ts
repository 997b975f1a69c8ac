/**
 * The pacing law of one rate domain (docs/pacing.md), as pure transitions over a plain state: the
 * clock is passed in, nothing is read from anywhere else, so the in-memory store runs these
 * functions and the Redis store runs the same steps in Lua.
 *
 * Three calls: `readyAt` (when may the next request go), `sent` (it went), `answered` (what came
 * back). Every answer is one sample; the law reads its status, latency and headers and nothing else.
 */
import type { NormalizedLimits } from '../pacing/dialects.js';
import { MAX_WAIT_MS } from '../pacing/durations.js';

/** One answer as the law reads it. */
export interface Sample {
  /** The number `sent` returned for the request. */
  seq: number;
  status: number;
  latencyMs: number;
  headers: NormalizedLimits | undefined;
  /** Tokens the answer's `usage` counted; undefined when not reported. */
  usedTokens?: number | undefined;
}

/** What the law remembers of a request in flight. */
export interface Ticket {
  sentAt: number;
  tokens: number;
  /** It waited for its slot in the pace (the pace bound, not the caller's demand). */
  paceBound: boolean;
  /**
   * It went with at least half the in-flight bound in flight: the bound, not the caller's demand, is
   * what holds the sender (Linux's `tcp_is_cwnd_limited` in slow start), so the bound may grow, to
   * at most twice what the caller keeps in flight.
   */
  capBound: boolean;
  /** Tokens sent by the domain up to and including it. */
  tokensAt: number;
  /** Requests in flight with it, itself included. */
  inFlightAt: number;
}

export interface DomainState {
  /** The pace, requests per ms; 0 until the first refusal (unpaced: only the in-flight bound holds). */
  rate: number;
  /** Configured `rpm` as requests per ms (the user's word: a ceiling); 0 when not set. */
  ceiling: number;
  /** Configured `tpm` as tokens per ms; 0 when not set. */
  tokenRate: number;
  /** The schedule: no send before this (one pace interval after the last). */
  nextAt: number;
  /** No send before this: a retry-after, or a run of refusals. */
  pausedUntil: number;
  /** The in-flight bound. */
  cap: number;
  inFlight: number;
  /** Requests sent, numbering them. */
  sent: number;
  /** Requests sent when the pace was last cut: refusals of these are the same loss event. */
  cutSeq: number;
  /** When the last loss event began (or the first send), and the answers served since. */
  eventAt: number;
  servedSinceEvent: number;
  sentAtEvent: number;
  refusedSinceEvent: number;
  /**
   * The pace found good at the last loss event that ended a cycle of served answers (TCP's
   * ssthresh): below it the pace climbs as slow start does, doubling per round trip, so a run of
   * refusals (a spent window) that cut it far down costs round trips to undo, not thousands of answers.
   */
  good: number;
  /** Answers of requests sent after the last cut that were served (the pace held there). */
  servedAfterCut: number;
  /** Loss events in a row with nothing sent after a cut served between (a spent window): each cuts deeper. */
  refusalRun: number;
  /** The mean gap between sends and between served answers over about the last 16 of each, ms (0: none yet). */
  sendGap: number;
  servedCount: number;
  servedGap: number;
  lastSentAt: number;
  lastServedAt: number;
  /** What the last refusal's pause cost: requests the pace would have sent meanwhile. */
  refusalCost: number;
  /** Someone asked to send and was held by the pace since the last send. */
  waited: boolean;
  /** The headers' gate was shut at the last look. */
  gateShut: boolean;
  /** Latency of served answers: a fast and a slow average (the gradient), 0 until known. */
  latencyFast: number;
  latencySlow: number;
  /** The status of the answer before (two refusals in a row make a 503 a refusal). */
  lastRefused: boolean;
  /** The share of 503s among about the last 16 answers. */
  share503: number;
  /** The newest headers (by send order): their request's number and send time. */
  headers: NormalizedLimits | undefined;
  headersSeq: number;
  headersAt: number;
  /** Tokens sent up to and including the newest headers' request (the token gate counts from there). */
  headersTokens: number;
  tickets: Map<number, Ticket>;
  tokensSent: number;
  /** The in-flight bound set by the last refusal (0: none yet): above it the bound grows as the pace does. */
  capGood: number;
  /** The mean requests in flight at a send (each counting itself), over about the last 16 sends. */
  inFlightMean: number;
  /** The most requests in flight with a served request since the last loss event. */
  servedHigh: number;
  /**
   * The server's slots, as refusals have shown them (rule 8): 0 not known, -1 refuted (a refusal
   * came with no more in flight than them: not a slot-bound server).
   */
  slots: number;
  /** The in-flight bound before the slots were first taken, restored if they are refuted. */
  capBeforeSlots: number;
  /** The slots one such refusal suggested (0: none): a second at the same count takes them. */
  slotsSeen: number;
}

/**
 * The law's constants, each with the reason a reader can check.
 * - `cut`: a refusal multiplies the pace by this. The pace then climbs back by `climb` per served
 *   answer: a cycle from the cut to the limit takes ln(1/cut)/climb ≈ 160 answers, of which one
 *   loss event refuses one or two, so refusals stay under 1.5% on any limiter.
 * - `initialCap`: requests in flight before any answer (a bare loop's first round at small
 *   concurrency; it doubles each round trip while answers come back served).
 * - `gradient`: the in-flight bound stops growing while the fast latency average is this much above
 *   the slow one (Gradient2's default tolerance: the queue is growing, not the work).
 * - `fastWeight`/`slowWeight`: one answer's weight in each average (about the last 8 / 64 answers).
 * - `gatePadMs`: a reset counts from the request's arrival, a network trip after its send.
 * - `probeAfter`: served answers since the last loss event after which the climb is twice as fast
 *   (after k answers the pace has grown by exp(climb·(k + k²/2·probeAfter)): ×1.16 at 100, ×2 at
 *   300, ×6 at 500), so a limit that doubled, or a first estimate far too low, is found within a
 *   few hundred answers, while the cycle from a cut back to the limit stays about 100 answers;
 *   `maxSpeedup` bounds it (1% per answer: a doubling in 70 answers, never a jump).
 * - `costCycles`: when a refusal costs a pause, a cycle from the cut back to the limit lasts at
 *   least this many times the requests the pause costs, so probing wastes at most about 1/10.
 * - `gapWeight`: one send's (one served answer's, one answer's) weight in the "what went lately"
 *   averages and the 503 share: about the last 16, a few round trips of a small pool.
 * - `stray503`: a 503 share above this is a server refusing, not stray errors (the issue's space
 *   draws up to 5% of stray 500/503s, half of them 503s; twice that and more is a pattern).
 * - `timerSlackMs`: how late a send may be and still keep the schedule's grid (Node's timers have
 *   millisecond granularity and fire up to about a millisecond late).
 */
export const LAW = Object.freeze({
  cut: 0.85,
  climb: 0.001,
  initialCap: 8,
  gradient: 1.5,
  fastWeight: 1 / 8,
  slowWeight: 1 / 64,
  gatePadMs: 25,
  probeAfter: 100,
  maxSpeedup: 10,
  costCycles: 10,
  gapWeight: 1 / 16,
  stray503: 0.1,
  timerSlackMs: 2,
});

export function initialState(now: number, config: { rpm?: number; tpm?: number } = {}): DomainState {
  return {
    rate: 0,
    ceiling: config.rpm ? config.rpm / 60_000 : 0,
    tokenRate: config.tpm ? config.tpm / 60_000 : 0,
    nextAt: now,
    pausedUntil: 0,
    cap: LAW.initialCap,
    inFlight: 0,
    sent: 0,
    cutSeq: 0,
    eventAt: now,
    servedSinceEvent: 0,
    sentAtEvent: 0,
    refusedSinceEvent: 0,
    good: 0,
    servedAfterCut: 0,
    refusalRun: 0,
    refusalCost: 0,
    sendGap: 0,
    servedCount: 0,
    servedGap: 0,
    lastSentAt: now,
    lastServedAt: now,
    waited: false,
    gateShut: false,
    latencyFast: 0,
    latencySlow: 0,
    lastRefused: false,
    share503: 0,
    headers: undefined,
    headersSeq: 0,
    headersAt: 0,
    headersTokens: 0,
    tickets: new Map(),
    tokensSent: 0,
    capGood: 0,
    inFlightMean: 0,
    servedHigh: 0,
    slots: 0,
    capBeforeSlots: 0,
    slotsSeen: 0,
  };
}

/** The pace in force: the learned rate under the configured ceiling (0: unpaced). */
export function paceOf(state: DomainState): number {
  if (state.ceiling > 0) return state.rate > 0 ? Math.min(state.rate, state.ceiling) : state.ceiling;
  return state.rate;
}

/** The interval a request of `tokens` takes in the schedule, ms. */
function intervalOf(state: DomainState, tokens: number): number {
  const pace = paceOf(state);
  const byRequests = pace > 0 ? 1 / pace : 0;
  const byTokens = state.tokenRate > 0 ? tokens / state.tokenRate : 0;
  return Math.min(MAX_WAIT_MS, Math.max(byRequests, byTokens));
}

/**
 * The headers' gate: while the newest headers still describe the present (their reset is ahead),
 * what they left, less what was sent since, must cover the request; else not before the reset.
 */
export function gateAt(state: DomainState, now: number, tokens: number): number {
  const h = state.headers;
  if (!h) return now;
  let at = now;
  const sinceRequests = state.sent - state.headersSeq;
  // A reset in whole seconds (every dialect but OpenAI's) says nothing finer than a second: a
  // gate of a second or less would wait the whole second for what may be milliseconds away.
  const coarse = h.dialect !== 'openai';
  const check = (window: NormalizedLimits['requests'], used: number, need: number) => {
    if (!window || window.remaining === undefined || window.resetMs === undefined) return;
    if (coarse && window.resetMs <= 1000) return;
    const reset = window.resetAt ?? state.headersAt + window.resetMs;
    if (reset <= now) return;
    if (window.remaining - used >= need) return;
    at = Math.max(at, reset + LAW.gatePadMs);
  };
  check(h.requests, sinceRequests, 1);
  check(h.requestsLong, sinceRequests, 1);
  const tokenWindow = h.tokens ?? h.inputTokens;
  if (tokenWindow) {
    const tokensSince = state.tokensSent - state.headersTokens;
    check(tokenWindow, Math.max(0, tokensSince), Math.min(tokens, tokenWindow.limit));
  }
  return at;
}

/** When the next request of `tokens` may go: `<= now` now; `Infinity` after an answer. */
export function readyAt(state: DomainState, now: number, tokens: number): number {
  if (state.inFlight >= Math.floor(state.cap)) return Number.POSITIVE_INFINITY;
  const gate = gateAt(state, now, tokens);
  if (gate > now && !state.gateShut) gateShut(state, now, gate);
  state.gateShut = gate > now;
  const at = Math.max(now, state.nextAt, state.pausedUntil, gate);
  if (at > now) state.waited = true;
  return at;
}

/**
 * The headers' gate shut before any pace was set (the end of slow start): what the server took
 * since the first send, over the time until the gate opens again, is what it allows (a fixed
 * window's limit over its length, a bucket's refill); the pace starts there, so the gate's opening
 * is not a burst.
 */
function gateShut(state: DomainState, now: number, opens: number): void {
  if (paceOf(state) > 0) return;
  const taken = state.sent - state.sentAtEvent - state.refusedSinceEvent;
  state.rate = Math.max(1, taken) / Math.max(1, opens - state.eventAt);
  // A guess from one window, not a refusal: it climbs as slow start until a refusal says where the
  // limit is (the gate holds meanwhile).
  state.good = Number.POSITIVE_INFINITY;
  state.eventAt = now;
  state.sentAtEvent = state.sent;
  state.refusedSinceEvent = 0;
  state.servedSinceEvent = 0;
}

/** A request of `tokens` goes now; returns its number. */
export function sent(state: DomainState, now: number, tokens: number): number {
  state.sent += 1;
  state.tokensSent += tokens;
  state.tickets.set(state.sent, {
    sentAt: now,
    tokens,
    paceBound: state.waited,
    capBound: state.inFlight + 1 >= state.cap / 2,
    tokensAt: state.tokensSent,
    inFlightAt: state.inFlight + 1,
  });
  state.inFlight += 1;
  state.inFlightMean = average(state.inFlightMean, state.inFlight, state.sent);
  state.waited = false;
  // (A pause is not a gap the pace or the server made: the gap counts from its end.)
  const from = Math.max(state.lastSentAt, Math.min(now, state.pausedUntil));
  state.sendGap = average(state.sendGap, now - from, state.sent);
  state.lastSentAt = now;
  const interval = intervalOf(state, tokens);
  // A send late by a timer's slack keeps the schedule's grid; a later one starts it afresh (catching
  // up would put two requests closer than the pace, which a leaky bucket without burst refuses).
  const late = now - state.nextAt;
  state.nextAt =
    (late > 0 && late <= LAW.timerSlackMs ? state.nextAt : Math.max(state.nextAt, now)) + interval;
  return state.sent;
}

/** A request given up before its answer: its place in flight is free again. */
export function cancelled(state: DomainState, seq: number): void {
  if (state.tickets.delete(seq)) state.inFlight = Math.max(0, state.inFlight - 1);
}

/** Pauses the domain until `until` (a retry-after, here or heard from elsewhere). */
export function pause(state: DomainState, until: number): void {
  state.pausedUntil = Math.max(state.pausedUntil, until);
}

/**
 * Ends the domain's pause now (a config save: the user's word that the keys are good, issue 23).
 * Only the pause: the pace, the schedule and what the law learned stay, so a domain whose limit
 * still holds is paced as before rather than flooded.
 */
export function unpause(state: DomainState, now: number): void {
  state.pausedUntil = Math.min(state.pausedUntil, now);
}

export type Verdict = 'served' | 'refused' | 'error';

/** Whether the answer's headers say the domain still had room when it was counted. */
function roomShown(h: NormalizedLimits | undefined): boolean {
  const remaining = h?.requests?.remaining ?? h?.tokens?.remaining;
  return remaining !== undefined && remaining >= 1;
}

/**
 * What an answer says of the pace: a 429 is a refusal; a 503 is one when it says when to retry, or
 * follows another refusal with no headers showing room (a gateway or a full queue refuses in runs;
 * a stray 503 is alone); every other failure is an error, which is not a rate signal.
 */
export function classify(state: DomainState, sample: Sample): Verdict {
  if (sample.status === 429) return 'refused';
  if (sample.status === 503) {
    if (sample.headers?.retryAfterMs !== undefined) return 'refused';
    const often = state.share503 > LAW.stray503;
    if ((state.lastRefused || often) && !roomShown(sample.headers)) return 'refused';
    return 'error';
  }
  return sample.status < 400 ? 'served' : 'error';
}

export function answered(state: DomainState, now: number, sample: Sample): Verdict {
  const ticket = state.tickets.get(sample.seq);
  if (ticket) {
    state.tickets.delete(sample.seq);
    state.inFlight = Math.max(0, state.inFlight - 1);
  }
  const verdict = classify(state, sample);
  state.lastRefused = verdict === 'refused' || sample.status === 503;
  state.share503 += LAW.gapWeight * ((sample.status === 503 ? 1 : 0) - state.share503);
  learnHeaders(state, sample, ticket?.sentAt ?? now, ticket?.tokensAt ?? state.tokensSent);
  if (verdict === 'served') served(state, now, sample, ticket);
  else if (verdict === 'refused') refused(state, now, sample, ticket);
  // After the cut (which measures what the server took before this pause): wait as told.
  const retryAfter = sample.headers?.retryAfterMs;
  if (retryAfter !== undefined && (sample.status === 429 || sample.status === 503))
    pause(state, now + retryAfter);
  return verdict;
}

function learnHeaders(state: DomainState, sample: Sample, sentAt: number, tokensAt: number): void {
  const h = sample.headers;
  if (!h || (!h.requests && !h.tokens && !h.inputTokens && !h.requestsLong)) return;
  if (sample.seq < state.headersSeq) return;
  state.headers = h;
  state.headersSeq = sample.seq;
  state.headersAt = sentAt;
  state.headersTokens = tokensAt;
}

/** A running mean over about the last `1 / gapWeight` values (the plain mean of the first ones). */
function average(mean: number, value: number, count: number): number {
  return mean + Math.max(LAW.gapWeight, 1 / Math.max(1, count)) * (value - mean);
}

function served(state: DomainState, now: number, sample: Sample, ticket: Ticket | undefined): void {
  state.servedSinceEvent += 1;
  state.servedCount += 1;
  const from = Math.max(state.lastServedAt, Math.min(now, state.pausedUntil));
  state.servedGap = average(state.servedGap, now - from, state.servedCount);
  state.lastServedAt = now;
  const latency = sample.latencyMs;
  if (Number.isFinite(latency) && latency >= 0) {
    state.latencyFast =
      state.latencyFast === 0 ? latency : state.latencyFast + LAW.fastWeight * (latency - state.latencyFast);
    state.latencySlow =
      state.latencySlow === 0 ? latency : state.latencySlow + LAW.slowWeight * (latency - state.latencySlow);
  }
  if (ticket) state.servedHigh = Math.max(state.servedHigh, ticket.inFlightAt);
  if (!ticket || sample.seq <= state.cutSeq) return;
  state.servedAfterCut += 1;
  state.refusalRun = 0;
  if (ticket.paceBound && state.rate > 0) state.rate *= 1 + growth(state);
  // Served with the in-flight bound binding and latency not climbing: one more in flight (a
  // doubling per round trip, as fast as a bare loop fills its concurrency); above the bound a
  // refusal set (`refused`), it grows as the pace climbs. A queue growing in front of the work (the
  // fast latency average above the slow one) stops it.
  const warm = state.sent > 1 / LAW.slowWeight;
  if (!ticket.capBound || (warm && state.latencyFast > LAW.gradient * state.latencySlow)) return;
  // (Slots found: one more in flight per cycle of the climb, so a probe past them costs one refusal
  // per cycle; above a bound rule 7 set, it grows as the pace does.)
  if (state.slots > 0 && state.cap >= state.capGood) state.cap += probeGrowth(state) / Math.log(1 / LAW.cut);
  else if (state.capGood > 0 && state.cap >= state.capGood) state.cap *= 1 + probeGrowth(state);
  else state.cap += Math.max(1, Math.min(state.cap, roomLeft(sample.headers) - state.inFlight));
}

/**
 * Requests the answer's headers say are left now (0: none said). Where they show room beyond what
 * is in flight, the in-flight bound may grow by that much, up to doubling per answer: a rate
 * limiter that says it has room for a thousand more is not a slot-bound server to be felt out one
 * request per answer (its latency still stops the growth when it climbs).
 */
function roomLeft(h: NormalizedLimits | undefined): number {
  return h?.requests?.remaining ?? 0;
}

/**
 * How much one served answer that waited for its slot raises the pace. Under the good pace (after a
 * run of refusals): slow start, a doubling per round trip (1 / the requests one round trip holds).
 * At or above it: 0.1%, faster the longer no refusal came (CUBIC's shape: slow near the last cut,
 * then probing for a limit that rose), and slower when a refusal costs a pause (a cycle from the cut
 * back to the limit lasts at least `costCycles` times the requests one refusal's pause costs, so
 * probing wastes at most about 1/costCycles of the time).
 */
function growth(state: DomainState): number {
  const perTrip = state.rate * state.latencySlow;
  if (state.rate < state.good) return 1 / Math.max(1, perTrip);
  return probeGrowth(state);
}

function probeGrowth(state: DomainState): number {
  const probe = LAW.climb * Math.min(LAW.maxSpeedup, 1 + state.servedSinceEvent / LAW.probeAfter);
  const cycle = Math.log(1 / LAW.cut) / probe;
  const needed = LAW.costCycles * state.refusalCost;
  return needed > cycle ? (probe * cycle) / needed : probe;
}

function refused(state: DomainState, now: number, sample: Sample, ticket: Ticket | undefined): void {
  state.refusedSinceEvent += 1;
  if (sample.seq <= state.cutSeq) return;
  const pauseMs = sample.headers?.retryAfterMs ?? 0;
  if (ticket && slotsRefusal(state, ticket)) {
    // (The pace was not cut: what a pause costs is what was being served.)
    state.refusalCost = pauseMs * servedRate(state);
    return;
  }
  cut(state, now, sample.latencyMs);
  // A request the pace did not hold (it went as soon as the in-flight bound let it) was refused:
  // the count in flight overshot, not the pace (a concurrency-only server). A rate limiter refuses
  // requests that waited for the pace, and its bound is left alone; so is it when the request went
  // with less than half the bound in flight (the bound did not hold it either). Never below slots
  // found (rule 8).
  if (ticket && !ticket.paceBound && ticket.capBound && state.servedCount > 0) {
    const floor = Math.max(1, state.slots);
    state.cap = Math.max(floor, Math.min(state.cap, LAW.cut * ticket.inFlightAt));
    state.capGood = state.cap;
  }
  state.refusalCost = pauseMs * paceOf(state);
}

/**
 * Rule 8, a server with slots: a refusal of a request sent with more in flight than usual (above the
 * mean, and above any served since the last loss event, after two served answers per request in
 * flight) suggests the server is full at that count; a second such refusal at the same count takes
 * it: the bound becomes the count that was served (one less) and the pace is left alone. Later
 * refusals above the slots bring the bound back to them; one with no more in flight than the slots
 * refutes them for good (a rate limiter refuses at any count): the bound is restored and the pace
 * cut as usual. Returns whether the refusal was taken as the slots'.
 */
function slotsRefusal(state: DomainState, ticket: Ticket): boolean {
  const k = ticket.inFlightAt;
  if (state.slots > 0) return k > state.slots ? backToSlots(state) : refuteSlots(state);
  if (state.slots < 0 || !fullAt(state, k)) return false;
  if (state.slotsSeen !== k - 1) {
    state.slotsSeen = k - 1;
    return false;
  }
  state.capBeforeSlots = state.cap;
  state.slots = k - 1;
  state.servedHigh = 0;
  return backToSlots(state);
}

/** Whether a refusal with `k` in flight looks like a full server's (see `slotsRefusal`). */
function fullAt(state: DomainState, k: number): boolean {
  if (k < 2 || state.servedCount < 2 * k || k - 1 >= state.cap) return false;
  return k > state.inFlightMean && k > state.servedHigh;
}

/** The bound back at the slots; the climb past them starts again (a loss event for the probe). */
function backToSlots(state: DomainState): true {
  state.cap = state.slots;
  state.capGood = state.cap;
  state.servedSinceEvent = 0;
  return true;
}

function refuteSlots(state: DomainState): false {
  state.cap = Math.max(state.cap, state.capBeforeSlots);
  state.capGood = 0;
  state.slots = -1;
  return false;
}

/** Answers served per ms lately (the lower of that and the pace, where there is one). */
function servedRate(state: DomainState): number {
  const pace = paceOf(state);
  if (state.servedGap <= 0) return pace;
  return pace > 0 ? Math.min(1 / state.servedGap, pace) : 1 / state.servedGap;
}

/**
 * A new loss event. The pace becomes `cut` × the lower of what it was and the rate requests went
 * out at (in flight ÷ latency, Little's law, once latency is known; else what went since the last
 * event over the time since); events in a row with nothing served between (a spent window, a pace
 * far too fast) cut deeper each time (cut², cut³, …), so a pace k times too fast is found in about
 * √(2·log k / log(1/cut)) events, not log k / log(1/cut).
 *
 * The good pace (slow start's end, TCP's ssthresh): an event in the middle of slow start (the pace
 * under the good pace, doubling each round trip) overshot by at most the last doubling, so half the
 * pace is good; an event after a cycle of served answers makes the new pace the good one; an event
 * in a run keeps it (the run is the window, not the pace).
 */
function cut(state: DomainState, now: number, roundTripMs: number): void {
  // What went and what was served lately (each over its last ~16), whichever is higher: the pace
  // may have been far above what was sent (held by the bound or the headers' gate), and the server
  // served at least the served rate.
  const lately = Math.max(1 / Math.max(state.sendGap, 1e-3), state.servedGap > 0 ? 1 / state.servedGap : 0);
  // (Before anything was served, the only rate the refusals vouch for is one request per round trip,
  // the refusal's own; what went in the first burst says nothing of the limit.)
  const trip = Number.isFinite(roundTripMs) ? roundTripMs : 0;
  const going = state.servedCount === 0 ? 1 / Math.max(1, trip) : lately;
  const pace = paceOf(state);
  const base = pace > 0 ? Math.min(pace, going) : going;
  const inRun = state.refusalRun > 0;
  const slowStart = pace > 0 && pace < state.good;
  // (At most halved per event: the interval at most doubles, so a spent window is overshot by at
  // most the time already spent in it, as exponential backoff does.)
  state.rate = base * Math.max(0.5, LAW.cut ** (1 + state.refusalRun));
  // (Nothing served yet: the pace is a guess, and slow start goes on until a refusal after a serve.)
  if (state.servedCount === 0) state.good = Number.POSITIVE_INFINITY;
  else if (slowStart && !inRun) state.good = pace / 2;
  else if (!inRun) state.good = state.rate;
  state.refusalRun += 1;
  state.servedAfterCut = 0;
  state.cutSeq = state.sent;
  state.eventAt = now;
  state.servedSinceEvent = 0;
  state.sentAtEvent = state.sent;
  state.refusedSinceEvent = 0;
  state.servedHigh = 0;
  state.nextAt = Math.max(state.nextAt, now + intervalOf(state, 1));
}
