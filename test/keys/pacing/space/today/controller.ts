/**
 * FROZEN COPY (issue 24): the pacer the pool ran before the law, kept only as the harness's
 * "earlier pacer" to compare against (`space/today.ts`). Not used by the library.
 *
 * One rate domain's pacer (a key, or a group of keys sharing limits). Pure state, the clock passed
 * in as `now` (ms) on every call, so it runs the same in a discrete-event test as in the pool.
 *
 * Modes:
 * - `headers`: the answers carry rate-limit headers and what happens agrees with them; requests go
 *   out evenly at the limit over its window (less `margin`), never past what `remaining` allows.
 * - `observed`: the headers are absent, or a 429 came while they said there was room; the pace is
 *   learned from losses (see `aimd.ts`).
 * - `slow-start`: nothing is known yet; the pace doubles until the first loss or headers.
 * In every mode: one send per interval (no bursts), in flight at most rate × latency × 2 (Little's
 * law with a margin), and a `retry-after` pauses the whole domain.
 */

import { MINUTE_MS, type NormalizedLimits } from '../../../../../src/keys/pacing/dialects.js';
import { MAX_WAIT_MS } from '../../../../../src/keys/pacing/durations.js';
import { learnedLimits } from '../../../../../src/keys/pacing/learned.js';
import {
  AIMD_DEFAULTS,
  type AimdOptions,
  type AimdState,
  aimdAdoptCut,
  aimdOnLoss,
  aimdOnSend,
  aimdOnSharedSends,
  aimdOnSuccess,
  aimdPauseBase,
  aimdPauseCap,
  aimdStart,
  type Loss,
} from './aimd.js';
import type { Answer, ControllerOptions, PacingStatus, SharedLoss } from './controller-types.js';
import { PROBE_IN_FLIGHT } from './controller-types.js';
import { gateAt, hasPace, isSpent, paceFromLimits, spentReset } from './header-model.js';
import { calibrateWindows, type WindowSeen } from './window-estimate.js';

export type { Answer, ControllerOptions, PacingMode, PacingStatus, SharedLoss } from './controller-types.js';
export { PROBE_IN_FLIGHT } from './controller-types.js';

interface Ticket {
  sentAt: number;
  tokens: number;
  /** Tokens sent up to and including this request. */
  cumulativeTokens: number;
  /** Whether it was sent by the header model, and whether that model said there was room. */
  byHeaders: boolean;
  room: boolean;
  /** A shared pool: the domain's number of this send's slot. */
  domainSlot?: number;
}

const LATENCY_EMA = 0.2;
const LOSS = new Set([429, 503]);

export class PacingController {
  private readonly options: Required<Omit<ControllerOptions, 'rpm' | 'tpm' | 'aimd'>>;
  private readonly aimdOptions: AimdOptions;
  /** `headers`, or pacing from observation (`slow-start` / `observed` by the AIMD phase). */
  private mode: 'headers' | 'aimd' = 'aimd';
  private aimd: AimdState;
  private configured: NormalizedLimits | undefined;
  /** The newest (by send order) answer's headers, its request's number and send time (the server
   * counted it then, so its `reset` runs from then, not from when the answer came back). */
  private limits: NormalizedLimits | undefined;
  private limitsSeq = 0;
  private limitsAt = 0;
  private missing = 0;
  private tickets = new Map<number, Ticket>();
  private sent = 0;
  private tokensSent = 0;
  private nextAt = Number.NEGATIVE_INFINITY;
  private blockedUntil = 0;
  /** Tokens estimated but not used by answered requests (negative: used beyond the estimate). */
  private tokenCredit = 0;
  private latency: number | undefined;
  private answered = false;
  /** Whether the headers were caught out: from then on only observation paces. */
  private distrusted = false;
  /** OpenAI-style windows learned from `reset` (see window-estimate.ts). */
  private readonly windowSeen: WindowSeen = { requests: 0, tokens: 0 };
  /** Shared pool: no sends before this (another process's pause, or the shared schedule is full). */
  private deferredUntil = 0;
  private lastLoss: SharedLoss | undefined;
  /** A shared pool: the domain's slot count when observed pacing's state began (its first slot seen, less one). */
  private domainStart: number | undefined;

  constructor(now: number, options: ControllerOptions = {}) {
    this.options = {
      margin: options.margin ?? 0.01,
      initialRatePerSecond: options.initialRatePerSecond ?? 10,
      probeInFlight: options.probeInFlight ?? PROBE_IN_FLIGHT,
      missingHeadersLimit: options.missingHeadersLimit ?? 3,
      cooldownMs: options.cooldownMs ?? 1000,
    };
    this.aimdOptions = { ...AIMD_DEFAULTS, ...options.aimd };
    this.aimd = aimdStart(now, this.options.initialRatePerSecond / 1000);
    if (options.rpm || options.tpm) {
      this.configured = {};
      if (options.rpm) this.configured.requests = { limit: options.rpm, windowMs: MINUTE_MS };
      if (options.tpm) this.configured.tokens = { limit: options.tpm, windowMs: MINUTE_MS };
      this.mode = 'headers';
      this.answered = true;
    }
  }

  /** The limits headers mode paces by: the latest headers, else the configured ones. */
  private model(): NormalizedLimits | undefined {
    return hasPace(this.limits) ? this.limits : this.configured;
  }

  /** Requests per ms and tokens per ms this domain is paced at now (undefined: not limited). */
  private pace(): { requestRate: number | undefined; tokenRate: number | undefined } {
    if (this.mode !== 'headers') return { requestRate: this.aimd.rate, tokenRate: undefined };
    const model = this.model();
    const pace = model ? paceFromLimits(model, this.options.margin) : {};
    return { requestRate: pace.requestRate, tokenRate: pace.tokenRate };
  }

  private cost(tokens: number): number {
    const { requestRate, tokenRate } = this.pace();
    const perRequest = requestRate ? 1 / requestRate : 0;
    const perTokens = tokenRate ? tokens / tokenRate : 0;
    return Math.min(MAX_WAIT_MS, Math.max(perRequest, perTokens));
  }

  /** How many requests may be in flight: rate × latency × 2 (Little's law with a margin). */
  inFlightCap(): number {
    if (!this.answered || this.latency === undefined) return this.options.probeInFlight;
    const { requestRate, tokenRate } = this.pace();
    let rate = requestRate;
    if (tokenRate !== undefined && this.tokensSent > 0 && this.sent > 0) {
      const byTokens = tokenRate / (this.tokensSent / this.sent);
      rate = rate === undefined ? byTokens : Math.min(rate, byTokens);
    }
    if (rate === undefined) return Number.POSITIVE_INFINITY;
    return Math.max(this.options.probeInFlight, Math.ceil(rate * this.latency * 2) + 1);
  }

  private gate(tokens: number): number {
    if (this.mode !== 'headers' || !this.limits) return Number.NEGATIVE_INFINITY;
    const cumulative = this.tickets.get(this.limitsSeq)?.cumulativeTokens;
    return gateAt({
      limits: this.limits,
      answeredAt: this.limitsAt,
      sentAfter: this.sent - this.limitsSeq,
      tokensAfter: cumulative === undefined ? 0 : this.tokensSent - cumulative,
      tokens,
    });
  }

  /**
   * The earliest time a request of `tokens` estimated tokens may be sent: `<= now` means now;
   * `Infinity` means wait for an answer (the in-flight bound).
   */
  readyAt(now: number, tokens: number): number {
    if (this.tickets.size >= this.inFlightCap()) return Number.POSITIVE_INFINITY;
    return Math.max(now, this.blockedUntil, this.deferredUntil, this.nextAt, this.gate(tokens));
  }

  /** Shared pool: no sends before `until` (another process paused the domain, or its schedule is full). */
  defer(until: number): void {
    this.deferredUntil = Math.max(this.deferredUntil, until);
  }

  /** Shared pool: forgets the pauses other processes (Redis) imposed (a config save clears them). */
  clearDeferred(): void {
    this.deferredUntil = 0;
  }

  /** Mean latency of served answers, once known. */
  latencyMs(): number | undefined {
    return this.latency;
  }

  /** Until when the domain is paused (a retry-after, a loss, another process's pause): no send before. */
  heldUntil(): number {
    return Math.max(this.blockedUntil, this.deferredUntil);
  }

  /** The time a request of `tokens` takes in the domain's schedule, ms (the shared pool reserves it in Redis). */
  slotCost(tokens: number): number {
    return this.cost(tokens);
  }

  /** Request `seq` goes out at `at` (its slot in the shared schedule), not when it was leased. */
  reschedule(seq: number, at: number): void {
    const ticket = this.tickets.get(seq);
    if (!ticket || at <= ticket.sentAt) return;
    ticket.sentAt = at;
    this.nextAt = Math.max(this.nextAt, at + this.cost(ticket.tokens));
  }

  /** Shared pool: send `seq` took the domain's slot number `slot` (RESERVE's count over every process). */
  noteSlot(seq: number, slot: number): void {
    const ticket = this.tickets.get(seq);
    if (!ticket) return;
    ticket.domainSlot = slot;
    this.domainStart ??= slot - 1;
  }

  /** Sends other processes made on this domain: observed pacing counts them (the rate is the domain's). */
  noteSharedSends(count: number): void {
    if (count > 0) aimdOnSharedSends(this.aimd, count);
  }

  /** The limits headers mode paces by (undefined in the other modes), for other processes to start from. */
  sharedLimits(): NormalizedLimits | undefined {
    return this.mode === 'headers' ? this.model() : undefined;
  }

  /**
   * Starts from limits another process learned, as if an answer had said them, while this one
   * knows nothing yet (slow start, headers not caught out). Returns whether it did.
   */
  adopt(now: number, limits: NormalizedLimits): boolean {
    if (this.mode !== 'aimd' || this.distrusted || this.aimd.phase !== 'slow-start') return false;
    if (this.limits !== undefined || !hasPace(limits)) return false;
    this.limits = limits;
    this.limitsSeq = 0;
    this.limitsAt = now;
    this.mode = 'headers';
    return true;
  }

  /**
   * How much room is left, 0..1, for spreading load over keys (`pickKey`): the share of the
   * in-flight bound still free.
   */
  headroom(): number {
    const cap = this.inFlightCap();
    if (!Number.isFinite(cap)) return 1 / (1 + this.tickets.size);
    return Math.max(0, 1 - this.tickets.size / cap);
  }

  /** A request of `tokens` estimated tokens goes out now; returns its number for `onAnswer`. */
  onSend(now: number, tokens: number): number {
    const room = this.gate(tokens) <= now;
    this.sent += 1;
    this.tokensSent += tokens;
    const byHeaders = this.mode === 'headers';
    this.tickets.set(this.sent, { sentAt: now, tokens, cumulativeTokens: this.tokensSent, byHeaders, room });
    const charged = Math.max(0, tokens - this.tokenCredit);
    this.tokenCredit -= tokens - charged;
    // A send a little late (a timer fired late on a busy event loop) keeps the schedule's grid, so
    // lateness is not lost for good; after an idle spell the schedule starts afresh. Never two at once.
    const cost = this.cost(charged);
    const late = now - this.nextAt;
    this.nextAt = (late > 0 && late < cost ? this.nextAt : Math.max(this.nextAt, now)) + cost;
    aimdOnSend(this.aimd, now);
    return this.sent;
  }

  /** A request sent but abandoned before an answer (aborted): frees its place in flight. */
  onCancel(seq: number): void {
    this.tickets.delete(seq);
  }

  onAnswer(now: number, answer: Answer): void {
    const ticket = this.tickets.get(answer.seq);
    this.tickets.delete(answer.seq);
    this.answered = true;
    // Only served requests tell how long the server holds one (refusals come back at once).
    if (answer.status < 400 && Number.isFinite(answer.latencyMs) && answer.latencyMs >= 0) {
      this.latency =
        this.latency === undefined
          ? answer.latencyMs
          : this.latency + LATENCY_EMA * (answer.latencyMs - this.latency);
    }
    const headers = answer.headers;
    if (headers?.retryAfterMs !== undefined && LOSS.has(answer.status)) {
      this.blockedUntil = Math.max(this.blockedUntil, now + headers.retryAfterMs);
    }
    this.learn(now, answer.seq, ticket?.sentAt ?? now, headers);
    if (ticket && answer.usedTokens !== undefined && Number.isFinite(answer.usedTokens))
      this.settle(ticket, answer.usedTokens);
    if (LOSS.has(answer.status)) this.lost(now, answer, ticket);
    else if (answer.status < 400 && this.mode !== 'headers')
      aimdOnSuccess(this.aimd, now, this.latency ?? 0, this.aimdOptions);
  }

  private learn(now: number, seq: number, sentAt: number, raw: NormalizedLimits | undefined): void {
    const headers = calibrateWindows(raw, this.windowSeen);
    if (hasPace(headers) || headers?.requestsLong) {
      this.missing = 0;
      if (seq >= this.limitsSeq) {
        // An answer with only a per-day budget keeps the pace the last headers gave.
        this.limits = hasPace(headers) ? headers : { ...this.limits, ...headers };
        this.limitsSeq = seq;
        this.limitsAt = sentAt;
      }
      // Headers are trusted until they are caught out (a refusal while they said there was room).
      if (this.mode === 'aimd' && !this.distrusted && hasPace(headers)) this.mode = 'headers';
      return;
    }
    this.missing += 1;
    if (this.mode === 'headers' && !this.configured && this.missing >= this.options.missingHeadersLimit) {
      // Headers stopped coming: go on at the pace they gave, and learn from losses from here.
      this.observe(now, this.pace().requestRate, false);
    }
  }

  /** Leaves headers mode for observed pacing at `rate`, with that rate as the known ceiling. */
  private observe(now: number, rate: number | undefined, cut: boolean): void {
    const start = rate ?? this.aimd.rate;
    this.aimd = aimdStart(now, cut ? start * this.aimdOptions.decrease : start, start, this.sent);
    this.domainStart = undefined;
    this.aimd.lossSeq = this.sent;
    this.mode = 'aimd';
  }

  /**
   * Tokens the answer really used replace the estimate: the difference is a credit (or a debt) the
   * next sends are charged against, at most a few requests' worth so it never becomes a burst.
   */
  private settle(ticket: Ticket, used: number): void {
    const cap = 4 * (this.tokensSent / Math.max(1, this.sent));
    this.tokenCredit = Math.min(cap, Math.max(-cap, this.tokenCredit + ticket.tokens - used));
  }

  private lost(now: number, answer: Answer, ticket: Ticket | undefined): void {
    const retryAfter = answer.headers?.retryAfterMs;
    if (this.mode === 'headers') {
      // No surprise: sent before the headers were in charge, or when they said there was no room,
      // or the refusal's own headers say a limit is spent (another client, a request in flight).
      const foreseen = ticket === undefined || !ticket.byHeaders || !ticket.room || isSpent(answer.headers);
      if (foreseen || answer.seq <= this.aimd.lossSeq) {
        const wait = retryAfter ?? spentReset(answer.headers ?? this.limits) ?? this.options.cooldownMs;
        this.blockedUntil = Math.max(this.blockedUntil, now + Math.min(MAX_WAIT_MS, wait));
        return;
      }
      // A refusal the headers did not foresee: they do not describe this limiter; pace from losses.
      this.distrusted = true;
      this.observe(now, this.pace().requestRate, true);
      this.nextAt = Math.max(this.nextAt, now + 1 / this.aimd.rate);
      return;
    }
    const kind = answer.status === 503 ? 'capacity' : 'rate';
    const before = this.aimd.lossSeq;
    const inSlowStart = this.aimd.phase === 'slow-start';
    const slot = ticket?.domainSlot;
    const domainBefore =
      slot !== undefined && this.domainStart !== undefined ? slot - 1 - this.domainStart : undefined;
    const loss: Loss = {
      seq: answer.seq,
      sentAt: ticket?.sentAt ?? now,
      lastSeq: this.sent,
      kind,
      domainBefore,
    };
    const pause = aimdOnLoss(this.aimd, now, loss, this.latency ?? 0, this.aimdOptions);
    // After a retry-after the first send goes when it ends; the new pace runs from there.
    if (this.aimd.lossSeq !== before)
      this.nextAt = Math.max(
        this.nextAt,
        retryAfter !== undefined ? this.blockedUntil : now + 1 / this.aimd.rate,
      );
    if (retryAfter === undefined && pause > 0) this.blockedUntil = Math.max(this.blockedUntil, now + pause);
    if (retryAfter === undefined && this.aimd.lossSeq !== before) {
      const capMs = aimdPauseCap(this.aimd, now, kind, this.aimdOptions);
      this.lastLoss = { ms: pause, baseMs: Math.min(capMs, aimdPauseBase(this.aimd)), capMs };
      if (inSlowStart && kind === 'rate' && this.aimd.ceiling !== undefined)
        this.lastLoss.cutPerMinute = this.aimd.ceiling * MINUTE_MS;
    }
  }

  /**
   * Shared pool: another process ended the domain's slow start at `perMinute` (its `takeLoss`).
   * Still in slow start here, this pacer leaves it at the same ceiling. Returns whether it did.
   */
  adoptCut(now: number, perMinute: number): boolean {
    if (this.mode !== 'aimd') return false;
    if (!aimdAdoptCut(this.aimd, now, perMinute / MINUTE_MS, this.sent, this.aimdOptions)) return false;
    this.nextAt = Math.max(this.nextAt, now + 1 / this.aimd.rate);
    return true;
  }

  /**
   * Shared pool: the last answer's refusal, once, when observed pacing took it as a new loss event
   * (no word of when to retry): the pause it imposed here, the first pause of a run of losses and
   * the longest allowed now. The domain's run of losses is counted over every process.
   */
  takeLoss(): SharedLoss | undefined {
    const loss = this.lastLoss;
    this.lastLoss = undefined;
    return loss;
  }

  status(now: number): PacingStatus {
    const { requestRate } = this.pace();
    const status: PacingStatus = {
      mode:
        this.mode === 'headers' ? 'headers' : this.aimd.phase === 'slow-start' ? 'slow-start' : 'observed',
      requestsPerMinute: requestRate === undefined ? Number.POSITIVE_INFINITY : requestRate * MINUTE_MS,
      inFlight: this.tickets.size,
      inFlightCap: this.inFlightCap(),
      learned: {},
    };
    if (this.latency !== undefined) status.latencyMs = this.latency;
    if (this.blockedUntil > now) status.blockedUntil = this.blockedUntil;
    if (this.mode !== 'headers' && this.aimd.ceiling !== undefined)
      status.ceilingPerMinute = this.aimd.ceiling * MINUTE_MS;
    status.learned = learnedLimits(this.model());
    return status;
  }
}
