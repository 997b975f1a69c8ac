/** The pacing controller's public types (`controller.ts`): its options, answers and status. */

import type { NormalizedLimits } from '../../../../../src/keys/pacing/dialects.js';
import type { LearnedLimits } from '../../../../../src/keys/pacing/learned.js';
import type { AimdOptions } from './aimd.js';

export type PacingMode = 'headers' | 'observed' | 'slow-start';

/** Requests in flight on a domain before its first answer says anything. */
export const PROBE_IN_FLIGHT = 2;

/** A new loss event of observed pacing, for the domain's shared run of losses (`takeLoss`). */
export interface SharedLoss {
  ms: number;
  baseMs: number;
  capMs: number;
  /** The loss ended slow start: the ceiling it found, requests per minute (the other processes adopt it). */
  cutPerMinute?: number | undefined;
}

export interface ControllerOptions {
  /** Configured requests per minute (the user's word, trusted like headers). @default undefined */
  rpm?: number | undefined;
  /** Configured tokens per minute. @default undefined */
  tpm?: number | undefined;
  /** Fraction below a header limit to pace at. @default 0.01 */
  margin?: number;
  /** Pace of slow start's first requests, per second. @default 10 */
  initialRatePerSecond?: number;
  /** Requests in flight before the first answer says anything. @default 2 */
  probeInFlight?: number;
  /** Answers in a row without headers before `headers` mode gives way to `observed`. @default 3 */
  missingHeadersLimit?: number;
  /** Cooling after a 429 the headers foresaw but that says nothing of when to retry. @default 1000 */
  cooldownMs?: number;
  /** Observed-mode tuning. @default AIMD_DEFAULTS */
  aimd?: Partial<AimdOptions>;
}

export interface Answer {
  /** The number `onSend` returned for this request. */
  seq: number;
  /** HTTP status; 429 and 503 are losses. */
  status: number;
  latencyMs: number;
  headers: NormalizedLimits | undefined;
  /** Tokens the answer's `usage` counted (settles the estimate); undefined when not reported. */
  usedTokens?: number | undefined;
}

export interface PacingStatus {
  mode: PacingMode;
  /** The pace requests go out at, per minute. */
  requestsPerMinute: number;
  inFlight: number;
  inFlightCap: number;
  /** Mean answer latency, once known. */
  latencyMs?: number;
  /** No sends before this time (a retry-after or a run of losses). */
  blockedUntil?: number;
  /** Observed mode: the pace at which losses last began, per minute. */
  ceilingPerMinute?: number;
  /** What the headers (or the config) said, per minute / per day. */
  learned: LearnedLimits;
}
