/**
 * Rate-limit header dialects and the `retry-after` forms: how a limiter's state is written on
 * answers, and what a 429 carries, as each family of real servers sends them. Pure: the time is
 * passed in.
 */
import { type ErrorAnswer, rateLimited, retryAfterHeaders } from './api-errors.js';
import type { ResolvedHeaders } from './limiter-options.js';
import type { LimiterView, LimitKind, MeterView, RateRefusal } from './limiters/types.js';
import { formatResetDuration } from './rate-limit.js';
import type { SimRetryAfter } from './types.js';

const KINDS: readonly LimitKind[] = ['requests', 'tokens'];

/** An RFC 3339 instant in whole seconds (rounded up), as Anthropic's reset headers give it: `2025-01-15T14:24:00Z`. */
export function rfc3339(ms: number): string {
  return new Date(Math.ceil(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** An HTTP date (IMF-fixdate, rounded up to the second): `Sun, 06 Nov 1994 08:49:37 GMT`. */
export function httpDate(ms: number): string {
  return new Date(Math.ceil(ms / 1000) * 1000).toUTCString();
}

/** Whole seconds, rounded up. */
function seconds(ms: number): number {
  return Math.max(0, Math.ceil(ms / 1000));
}

/** A window in whole seconds for the IETF `w` parameter (at least 1). */
function windowSeconds(ms: number): number {
  return Math.max(1, Math.round(ms / 1000));
}

function openaiHeaders(
  view: LimiterView,
  unknown: ResolvedHeaders['unknownValues'],
  remainingOnly: boolean,
): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const kind of KINDS) {
    const meter = view[kind];
    if (!meter) continue;
    const hidden = unknown[kind];
    if (!remainingOnly) headers[`x-ratelimit-limit-${kind}`] = hidden ? '-1' : String(meter.limit);
    headers[`x-ratelimit-remaining-${kind}`] = hidden ? '-1' : String(meter.remaining);
    if (!remainingOnly) {
      headers[`x-ratelimit-reset-${kind}`] = hidden ? '0' : formatResetDuration(meter.resetMs);
    }
  }
  return headers;
}

/** `RateLimit-Policy` / `RateLimit` as lists of items (draft-ietf-httpapi-ratelimit-headers-08+). */
function ietfHeaders(view: LimiterView): Record<string, string> {
  const policies: string[] = [];
  const states: string[] = [];
  for (const kind of KINDS) {
    const meter = view[kind];
    if (!meter) continue;
    const name = kind === 'requests' ? '"default"' : '"tokens"';
    policies.push(`${name};q=${meter.limit};w=${windowSeconds(meter.windowMs)}`);
    states.push(`${name};r=${meter.remaining};t=${seconds(meter.resetMs)}`);
  }
  if (policies.length === 0) return {};
  return { 'ratelimit-policy': policies.join(', '), ratelimit: states.join(', ') };
}

/** `RateLimit-Limit` / `-Remaining` / `-Reset` (draft 06): one limit, the requests one if there is one. */
function ietfLegacyHeaders(view: LimiterView): Record<string, string> {
  const meter: MeterView | null = view.requests ?? view.tokens;
  if (!meter) return {};
  return {
    'ratelimit-limit': String(meter.limit),
    'ratelimit-remaining': String(meter.remaining),
    'ratelimit-reset': String(seconds(meter.resetMs)),
    'ratelimit-policy': `${meter.limit};w=${windowSeconds(meter.windowMs)}`,
  };
}

function anthropicHeaders(view: LimiterView, now: number): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const kind of KINDS) {
    const meter = view[kind];
    if (!meter) continue;
    headers[`anthropic-ratelimit-${kind}-limit`] = String(meter.limit);
    headers[`anthropic-ratelimit-${kind}-remaining`] = String(meter.remaining);
    headers[`anthropic-ratelimit-${kind}-reset`] = rfc3339(now + meter.resetMs);
  }
  return headers;
}

/** The rate-limit headers of an answer, in the key's dialect. */
export function limitHeaders(spec: ResolvedHeaders, view: LimiterView, now: number): Record<string, string> {
  switch (spec.dialect) {
    case 'openai':
      return openaiHeaders(view, spec.unknownValues, false);
    case 'azure':
      return openaiHeaders(view, spec.unknownValues, true);
    case 'ietf':
      return ietfHeaders(view);
    case 'ietf-legacy':
      return ietfLegacyHeaders(view);
    case 'anthropic':
      return anthropicHeaders(view, now);
    case 'none':
      return {};
  }
}

/** The `retry-after` headers of a wait of `ms` in one form. */
export function retryAfter(form: SimRetryAfter, ms: number, now: number): Record<string, string> {
  switch (form) {
    case 'ms':
      return retryAfterHeaders(ms);
    case 'seconds':
      return { 'retry-after': String(seconds(ms)) };
    case 'date':
      return { 'retry-after': httpDate(now + Math.max(0, ms)) };
    case 'none':
      return {};
  }
}

/** How a dialect's servers name a window in their messages. */
function per(windowMs: number): string {
  if (windowMs === 60_000) return 'minute';
  if (windowMs === 86_400_000) return 'day';
  return formatResetDuration(windowMs);
}

function anthropicBody(refusal: RateRefusal, organization: string): unknown {
  const what = refusal.kind === 'requests' ? 'requests' : 'input tokens';
  return {
    type: 'error',
    error: {
      type: 'rate_limit_error',
      message: `This request would exceed the rate limit for your organization (${organization}) of ${refusal.limit} ${what} per ${per(refusal.windowMs)}. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later.`,
    },
  };
}

function azureBody(refusal: RateRefusal): unknown {
  const which = refusal.kind === 'requests' ? 'call' : 'token';
  const wait = Number.isFinite(refusal.retryAfterMs) ? seconds(refusal.retryAfterMs) : 86_400;
  return {
    error: {
      code: '429',
      message: `Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded ${which} rate limit of your current OpenAI S0 pricing tier. Please retry after ${wait} seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.`,
    },
  };
}

export interface RateLimitedAnswer {
  status: 429;
  body: unknown;
  /** `retry-after` in the key's form; empty for `bare429` and for a request that can never fit. */
  headers: Record<string, string>;
  /** Whether the answer carries the rate-limit headers (not for `bare429`). */
  limitHeaders: boolean;
}

/** The 429 of a refused request in the key's dialect. */
export function rateLimitedAnswer(
  spec: ResolvedHeaders,
  refusal: RateRefusal,
  model: string,
  organization: string,
  now: number,
): RateLimitedAnswer {
  const openai: ErrorAnswer = rateLimited(refusal, model, organization, refusal.windowMs);
  const body =
    spec.dialect === 'anthropic'
      ? anthropicBody(refusal, organization)
      : spec.dialect === 'azure'
        ? azureBody(refusal)
        : openai.body;
  if (spec.bare429) return { status: 429, body, headers: {}, limitHeaders: false };
  const headers = refusal.tooLarge ? {} : retryAfter(spec.retryAfter, refusal.retryAfterMs, now);
  return { status: 429, body, headers, limitHeaders: true };
}
