/** What a domain's limits come to, per minute and per day, for `pool.status()` and `keybatch keys`. */
import { DAY_MS, MINUTE_MS, type NormalizedLimits } from './dialects.js';

export interface LearnedLimits {
  dialect?: string;
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  requestsPerDay?: number;
  remainingRequests?: number;
  remainingTokens?: number;
}

const perMinute = (w: { limit: number; windowMs?: number } | undefined) =>
  w === undefined ? undefined : (w.limit / (w.windowMs ?? MINUTE_MS)) * MINUTE_MS;

/** The limits headers (or the config) stated, as rates per minute / per day and what was left. */
export function learnedLimits(model: NormalizedLimits | undefined): LearnedLimits {
  const learned: LearnedLimits = {};
  if (model?.dialect) learned.dialect = model.dialect;
  const rpm = perMinute(model?.requests);
  if (rpm !== undefined) learned.requestsPerMinute = rpm;
  const tpm = perMinute(model?.tokens ?? model?.inputTokens);
  if (tpm !== undefined) learned.tokensPerMinute = tpm;
  if (model?.requestsLong)
    learned.requestsPerDay = (model.requestsLong.limit / (model.requestsLong.windowMs ?? DAY_MS)) * DAY_MS;
  const remaining = model?.requests?.remaining ?? model?.requestsLong?.remaining;
  if (remaining !== undefined) learned.remainingRequests = remaining;
  const remainingTokens = (model?.tokens ?? model?.inputTokens)?.remaining;
  if (remainingTokens !== undefined) learned.remainingTokens = remainingTokens;
  return learned;
}

const compact = (n: number) =>
  n >= 10_000 ? `${Math.round(n / 1000)}k` : n >= 1000 ? `${(n / 1000).toFixed(1)}k` : String(Math.round(n));

/** `500/min, 30k tok/min, 14.4k/day (openai)`, or `-` when nothing is known. */
export function formatLearned(learned: LearnedLimits): string {
  const parts: string[] = [];
  if (learned.requestsPerMinute !== undefined) parts.push(`${compact(learned.requestsPerMinute)}/min`);
  if (learned.tokensPerMinute !== undefined) parts.push(`${compact(learned.tokensPerMinute)} tok/min`);
  if (learned.requestsPerDay !== undefined) parts.push(`${compact(learned.requestsPerDay)}/day`);
  if (parts.length === 0) return '-';
  return learned.dialect ? `${parts.join(', ')} (${learned.dialect})` : parts.join(', ');
}
