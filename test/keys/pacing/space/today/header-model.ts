/**
 * What a domain's latest rate-limit headers allow: an even pace (the limit spread over its window,
 * less a margin) and a gate (nothing more once `remaining`, less what was sent since, is spent).
 * Pure functions over the parsed headers; rates are per millisecond.
 */
import {
  type LimitWindow,
  MINUTE_MS,
  type NormalizedLimits,
} from '../../../../../src/keys/pacing/dialects.js';

export interface HeaderPace {
  /** Requests per ms, or undefined when the headers give no request limit. */
  requestRate?: number;
  /** Tokens per ms, from `tokens` (or Anthropic's `input-tokens` when tighter). */
  tokenRate?: number;
}

function rateOf(window: LimitWindow | undefined, margin: number): number | undefined {
  if (!window) return undefined;
  return (window.limit / (window.windowMs ?? MINUTE_MS)) * (1 - margin);
}

export function paceFromLimits(limits: NormalizedLimits, margin: number): HeaderPace {
  const pace: HeaderPace = {};
  const requestRate = rateOf(limits.requests, margin);
  if (requestRate !== undefined) pace.requestRate = requestRate;
  const tokenRates = [rateOf(limits.tokens, margin), rateOf(limits.inputTokens, margin)].filter(
    (rate): rate is number => rate !== undefined,
  );
  if (tokenRates.length > 0) pace.tokenRate = Math.min(...tokenRates);
  return pace;
}

/** Whether the headers say anything the pacer can pace by (a short-window request or token limit). */
export function hasPace(limits: NormalizedLimits | undefined): boolean {
  return (
    limits !== undefined &&
    (limits.requests !== undefined || limits.tokens !== undefined || limits.inputTokens !== undefined)
  );
}

/** How far past a spent window's reset the gate opens. */
export const GATE_PAD_MS = 25;

export interface GateInput {
  limits: NormalizedLimits;
  /** When the request whose answer carried `limits` was sent (the server counted it about then). */
  answeredAt: number;
  /** Requests and tokens sent after the request that answer belongs to. */
  sentAfter: number;
  tokensAfter: number;
  /** This request's estimated tokens. */
  tokens: number;
}

/**
 * The earliest time `remaining` allows another request (`answeredAt` when it does not bind): when a
 * dimension is spent, its reset. A reset that means "until full" (a token bucket) makes this wait
 * longer than needed, which costs throughput, never refusals.
 */
export function gateAt(input: GateInput): number {
  const { limits, answeredAt, sentAfter, tokensAfter, tokens } = input;
  let at = answeredAt;
  const check = (window: LimitWindow | undefined, used: number, need: number) => {
    if (!window || window.remaining === undefined) return;
    if (window.remaining - used >= need) return;
    // A little past the reset: a relative reset counts from the request's arrival at the server, a
    // moment after it was sent; an instant is an instant.
    const reset = window.resetMs ?? window.windowMs ?? MINUTE_MS;
    const opens = window.resetAt !== undefined ? window.resetAt : answeredAt + reset * 1.01;
    at = Math.max(at, opens + GATE_PAD_MS);
  };
  check(limits.requests, sentAfter, 1);
  check(limits.requestsLong, sentAfter, 1);
  const tokenWindow = limits.tokens ?? limits.inputTokens;
  if (tokenWindow) check(tokenWindow, tokensAfter, Math.min(tokens, tokenWindow.limit));
  return at;
}

/** Whether the headers say a dimension is spent (so a 429 with them is no surprise). */
export function isSpent(limits: NormalizedLimits | undefined): boolean {
  if (!limits) return false;
  return [limits.requests, limits.tokens, limits.inputTokens, limits.outputTokens, limits.requestsLong].some(
    (window) => window?.remaining !== undefined && window.remaining < 1,
  );
}

/** The reset of the first spent dimension: how long a 429 that the headers foresaw should wait. */
export function spentReset(limits: NormalizedLimits | undefined): number | undefined {
  if (!limits) return undefined;
  for (const window of [limits.requests, limits.tokens, limits.inputTokens, limits.requestsLong]) {
    if (window?.remaining !== undefined && window.remaining < 1 && window.resetMs !== undefined)
      return window.resetMs;
  }
  return undefined;
}
