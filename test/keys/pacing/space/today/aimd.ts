/**
 * Pacing from observation alone: a loss-based rate controller with slow start. Pure state and
 * functions, the clock passed in; rates are requests per millisecond.
 *
 * - Slow start doubles the rate every `max(1 s, 2 × latency)` of loss-free sending.
 * - A loss (429/503) on a request sent after the last reaction is a new loss event (once per round
 *   trip, as in TCP). The first of a run cuts the rate: out of slow start on a 429, to what was
 *   accepted so far per window (a window limiter gives out its allowance before it refuses); on a
 *   503 (a server out of capacity) by half; afterwards by `decrease`. Further losses in the same run
 *   only pause the domain, doubling each time: the window is spent, the rate is not the problem.
 * - Each loss-free window (`max(windowMs, probeRequests / rate, 4 × latency)`) the rate goes back to
 *   `target × ceiling` at once, then probes upward by `probeStep`, doubling per window, so a raised
 *   limit is found and the cost of probing past a fixed one is a few refusals per window.
 */

export interface AimdOptions {
  /** Length of a loss-free window before the rate rises, unless requests or latency need longer. */
  windowMs: number;
  /** Fewest successes a window needs before the rate rises (bounds refusals at small limits). */
  probeRequests: number;
  /** Fraction of the rate where losses began that the rate returns to. */
  target: number;
  /** Multiplicative decrease on a loss event out of congestion avoidance. */
  decrease: number;
  /** First upward probe, a fraction of the rate; doubles per loss-free window. */
  probeStep: number;
  maxProbeStep: number;
  minRate: number;
  maxRate: number;
  /** Longest pause a run of losses imposes. */
  maxPauseMs: number;
}

export const AIMD_DEFAULTS: Readonly<AimdOptions> = Object.freeze({
  windowMs: 60_000,
  probeRequests: 50,
  target: 0.97,
  decrease: 0.9,
  probeStep: 0.01,
  maxProbeStep: 0.25,
  minRate: 1 / 3_600_000,
  maxRate: 10,
  maxPauseMs: 60_000,
});

export interface AimdState {
  phase: 'slow-start' | 'avoid';
  rate: number;
  /** The rate at which losses last began; undefined before the first. */
  ceiling: number | undefined;
  /** When the rate last changed, and how many requests were sent since (to tell app-limited). */
  changedAt: number;
  sentSinceChange: number;
  successesSinceChange: number;
  lostSinceChange: number;
  /** When the rate was last cut. */
  decreasedAt: number;
  /** Losses in a row without a success between them. */
  streak: number;
  /** Answers to requests numbered up to this are not new loss events. */
  lossSeq: number;
  step: number;
  /** Successes a probe window needs now: doubles after each loss (up to 4×), halves back per clean probe. */
  probeRequests: number;
  startedAt: number;
  /** The first send since this state began (a window limiter's window starts with it). */
  firstSentAt: number | undefined;
  /** The last request number sent before this state began. */
  startSeq: number;
  successes: number;
  /**
   * A shared pool: sends of other processes on this domain since this state began, and since the
   * rate last changed (included in `sentSinceChange`). The rate is the domain's, so what was
   * accepted and served counts them too.
   */
  sharedSent: number;
  sharedSinceChange: number;
  /**
   * After slow start was refused with no word of when to retry: when a window limiter's window,
   * counted from the first send, has passed (its allowance, spent by slow start, is given back).
   */
  windowEndsAt: number | undefined;
}

export function aimdStart(now: number, rate: number, ceiling?: number, startSeq = 0): AimdState {
  return {
    phase: ceiling === undefined ? 'slow-start' : 'avoid',
    rate,
    ceiling,
    changedAt: now,
    sentSinceChange: 0,
    successesSinceChange: 0,
    lostSinceChange: 0,
    decreasedAt: Number.NEGATIVE_INFINITY,
    streak: 0,
    lossSeq: 0,
    step: AIMD_DEFAULTS.probeStep,
    probeRequests: AIMD_DEFAULTS.probeRequests,
    startedAt: now,
    firstSentAt: undefined,
    startSeq,
    successes: 0,
    sharedSent: 0,
    sharedSinceChange: 0,
    windowEndsAt: undefined,
  };
}

function setRate(state: AimdState, now: number, rate: number, options: AimdOptions): void {
  state.rate = Math.min(options.maxRate, Math.max(options.minRate, rate));
  state.changedAt = now;
  state.sentSinceChange = 0;
  state.sharedSinceChange = 0;
  state.successesSinceChange = 0;
  state.lostSinceChange = 0;
}

export function aimdOnSend(state: AimdState, now: number): void {
  state.sentSinceChange += 1;
  state.firstSentAt ??= now;
}

/** A shared pool: `count` sends other processes made on this domain. */
export function aimdOnSharedSends(state: AimdState, count: number): void {
  state.sentSinceChange += count;
  state.sharedSinceChange += count;
  state.sharedSent += count;
}

/** A success: the rate may rise if a whole loss-free window went by at (about) the current rate. */
export function aimdOnSuccess(state: AimdState, now: number, latencyMs: number, options: AimdOptions): void {
  state.streak = 0;
  state.successes += 1;
  state.successesSinceChange += 1;
  const elapsed = now - state.changedAt;
  // Sending well below the rate (too few requests, or lanes) says nothing about a higher one.
  const used = state.sentSinceChange >= 0.5 * state.rate * elapsed;
  if (state.phase === 'slow-start') {
    if (elapsed >= Math.max(1000, 2 * latencyMs) && used) setRate(state, now, state.rate * 2, options);
    return;
  }
  // Back up to just under where losses began as soon as a window limiter has forgotten them; past
  // that only after enough successes that one refusal per probe stays a small share.
  const recovery = Math.max(options.windowMs, 4 * latencyMs);
  if (elapsed < recovery || !used || state.successesSinceChange < 2) return;
  const ceiling = state.ceiling ?? state.rate;
  if (state.rate < options.target * ceiling * 0.99) {
    setRate(state, now, options.target * ceiling, options);
    return;
  }
  if (elapsed < Math.max(recovery, state.probeRequests / state.rate)) return;
  state.probeRequests = Math.max(options.probeRequests, state.probeRequests / 2);
  const next = state.rate * (1 + state.step);
  state.step = Math.min(options.maxProbeStep, state.step * 2);
  // A whole window above the old ceiling without loss: the limit was raised; the ceiling follows.
  if (state.rate > ceiling) state.ceiling = state.rate;
  setRate(state, now, next, options);
}

export interface Loss {
  /** The refused request's number and when it was sent. */
  seq: number;
  sentAt: number;
  /** The number of the last request sent so far. */
  lastSeq: number;
  /** A 429 (a rate limiter) or a 503 (a server out of capacity). */
  kind: 'rate' | 'capacity';
  /**
   * A shared pool: sends of every process on this domain before the refused one since this state
   * began, by the domain's own count of slots (exact, where synced counts lag).
   */
  domainBefore?: number | undefined;
}

/** How long a window limiter's last refusals may leave it refusing, once its window has passed. */
const AFTER_WINDOW_PAUSE_MS = 2000;

/**
 * The longest pause a loss may impose now. While slow start's spent window is still running, a
 * pause never goes past its end (the first send after it is accepted, so resuming late is time
 * lost for good); for a window after it, pauses stay short. A shared pool doubles pauses across
 * processes in Redis and keeps them within this.
 */
export function aimdPauseCap(
  state: AimdState,
  now: number,
  kind: Loss['kind'],
  options: AimdOptions,
): number {
  const ends = state.windowEndsAt;
  if (ends === undefined || kind !== 'rate') return options.maxPauseMs;
  if (now < ends) return Math.min(options.maxPauseMs, Math.max(500, ends - now + 250));
  if (now < ends + options.windowMs) return Math.min(options.maxPauseMs, AFTER_WINDOW_PAUSE_MS);
  return options.maxPauseMs;
}

/** The first pause of a run of losses: 500 ms, or one interval at the rate when it is longer. */
export function aimdPauseBase(state: AimdState): number {
  return Math.max(500, 1 / state.rate);
}

/** The pause after a run of losses: doubling from `aimdPauseBase`, within `aimdPauseCap`. */
function lossPause(state: AimdState, now: number, kind: Loss['kind'], options: AimdOptions): number {
  if (state.streak < 2) return 0;
  const cap = aimdPauseCap(state, now, kind, options);
  const ends = state.windowEndsAt;
  if (ends !== undefined && now >= ends + options.windowMs) state.windowEndsAt = undefined;
  return Math.min(cap, aimdPauseBase(state) * 2 ** (state.streak - 2));
}

/** Slow start ends at `ceiling` (the rate where losses began): the rate goes to just under it. */
function leaveSlowStart(
  state: AimdState,
  now: number,
  ceiling: number,
  kind: Loss['kind'],
  options: AimdOptions,
): void {
  state.ceiling = ceiling;
  state.phase = 'avoid';
  if (kind === 'rate') state.windowEndsAt = (state.firstSentAt ?? state.startedAt) + options.windowMs;
  setRate(state, now, ceiling * options.target, options);
  state.decreasedAt = now;
}

/**
 * A shared pool: another process on this domain ended slow start at `ceiling` (its first refusal, by
 * the domain's count of what was accepted). Still in slow start here, this process leaves it too,
 * as if that refusal had been its own (the first of a run; its requests sent up to `lastSeq` are
 * the same loss event): the rate is the domain's, and doubling on would only run into the limit
 * the other process found. Returns whether it did.
 */
export function aimdAdoptCut(
  state: AimdState,
  now: number,
  ceiling: number,
  lastSeq: number,
  options: AimdOptions,
): boolean {
  if (state.phase !== 'slow-start' || !(ceiling > 0)) return false;
  state.lossSeq = Math.max(state.lossSeq, lastSeq);
  state.streak = Math.max(state.streak, 1);
  state.step = options.probeStep;
  leaveSlowStart(state, now, ceiling, 'rate', options);
  return true;
}

/**
 * A refusal. Returns how long the domain should pause (0: just keep to the new rate).
 * Within a window after a cut, new losses only pause: a window limiter keeps refusing until what
 * it counted before the cut has aged out, which says nothing about the new rate.
 */
export function aimdOnLoss(
  state: AimdState,
  now: number,
  loss: Loss,
  latencyMs: number,
  options: AimdOptions,
): number {
  const { seq, lastSeq, kind } = loss;
  state.lostSinceChange += 1;
  if (seq <= state.lossSeq) return 0;
  state.lossSeq = lastSeq;
  state.streak += 1;
  state.step = options.probeStep;
  const pause = lossPause(state, now, kind, options);
  const atLoss = state.rate;
  if (state.phase === 'slow-start') {
    // Everything sent before the refused request got in (it was the first refused): that many per
    // window is what a window limiter allows, however many of them are still in flight.
    const own = seq - 1 - state.startSeq;
    const before = Math.max(own, loss.domainBefore ?? own + state.sharedSent);
    const accepted = before / Math.max(options.windowMs, loss.sentAt - state.startedAt);
    // Out of capacity: the rate before the last doubling went a whole window without loss.
    const next = kind === 'rate' && accepted > 0 ? Math.min(atLoss / 2, accepted) : atLoss / 2;
    leaveSlowStart(state, now, next, kind, options);
    return pause;
  }
  // A window limiter remembers a window; a full server's queue drains within a few service times.
  const hold = kind === 'rate' ? Math.max(options.windowMs, 4 * latencyMs) : Math.max(1000, 4 * latencyMs);
  if (now - state.decreasedAt < hold) return pause;
  // Losses keep coming back at this level: probe past it less often (fewer refusals at small limits).
  state.probeRequests = Math.min(4 * options.probeRequests, state.probeRequests * 2);
  // The share accepted since the rate last changed says how far over it is (a probe just past the
  // limit: a little; a rate twice the limit: half).
  const answered = state.successesSinceChange + state.lostSinceChange;
  // Only with a few losses among enough answers: one loss among two says nothing, and a single loss
  // says the rate is just past the limit (the ceiling is where it began).
  const ratio =
    answered >= 10 && state.lostSinceChange >= 3 ? Math.max(0.25, state.successesSinceChange / answered) : 1;
  let ceiling = atLoss * ratio;
  // A full server serves at its peak whatever is sent: what got through per ms since the change is
  // that peak (its queue lets more in than it serves, so the share accepted alone overstates it).
  const elapsed = now - state.changedAt;
  // Shared: this process's successes are its share of the domain's (its share of the sends).
  const own = state.sentSinceChange - state.sharedSinceChange;
  const served = state.successesSinceChange * (own > 0 ? state.sentSinceChange / own : 1);
  if (kind === 'capacity' && answered >= 10 && elapsed >= Math.max(5000, 10 * latencyMs))
    ceiling = Math.min(ceiling, Math.max(atLoss * 0.25, served / elapsed));
  state.ceiling = ceiling;
  setRate(
    state,
    now,
    Math.min(atLoss * Math.min(options.decrease, ratio), ceiling * options.target),
    options,
  );
  state.decreasedAt = now;
  return pause;
}
