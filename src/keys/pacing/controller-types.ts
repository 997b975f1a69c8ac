/** What `pool.status().keys[i].pacing` shows of a rate domain (the shape of earlier rounds, kept). */
import type { LearnedLimits } from './learned.js';

export type PacingMode = 'headers' | 'observed' | 'slow-start';

export interface PacingStatus {
  mode: PacingMode;
  /** The pace requests go out at, per minute (`Infinity`: unpaced, only the in-flight bound holds). */
  requestsPerMinute: number;
  inFlight: number;
  inFlightCap: number;
  /** Mean answer latency, once known. */
  latencyMs?: number;
  /** No sends before this time (a retry-after or a run of refusals). */
  blockedUntil?: number;
  /** Earlier rounds' observed mode: the pace at which losses last began, per minute (the law does not set it). */
  ceilingPerMinute?: number;
  /** What the headers (or the config) said, per minute / per day. */
  learned: LearnedLimits;
}
