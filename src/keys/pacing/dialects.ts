/**
 * Every rate-limit header dialect an OpenAI-compatible endpoint sends, read into one shape:
 * OpenAI/Azure/Groq `x-ratelimit-*-{requests,tokens}`, Anthropic `anthropic-ratelimit-*`, the IETF
 * draft's `RateLimit`/`RateLimit-Policy` (structured fields, drafts 07 and 08+), the older
 * `RateLimit-Limit/Remaining/Reset` (and `X-RateLimit-*`), and `retry-after(-ms)`.
 * Pure: the clock is passed in; garbage is dropped; every duration is clamped to 0..24 h.
 */
import { parseDuration, parseRetryAfter } from './durations.js';
import { parseStructuredDictionary, parseStructuredList, type SfItem } from './structured-fields.js';

/** One counted dimension of a limit as the server described it. */
export interface LimitWindow {
  /** Units (requests or tokens) the window allows. */
  limit: number;
  /** Units left; undefined when not sent. */
  remaining?: number;
  /** Milliseconds until the window resets or refills (its meaning differs by limiter). */
  resetMs?: number;
  /** The reset as an instant (ms since the epoch), when the server sent one (Anthropic, Unix times). */
  resetAt?: number;
  /** How long the window is, when stated (IETF `w`) or implied (per minute, per day). */
  windowMs?: number;
}

export type Dialect = 'openai' | 'anthropic' | 'ietf' | 'ratelimit';

export interface NormalizedLimits {
  dialect?: Dialect;
  /** Requests per short window (at most an hour): what the pacer spaces sends by. */
  requests?: LimitWindow;
  /** Requests per long window (Groq's per-day `x-ratelimit-*-requests`, IETF `w` >= 1 h): a budget, not a pace. */
  requestsLong?: LimitWindow;
  tokens?: LimitWindow;
  inputTokens?: LimitWindow;
  outputTokens?: LimitWindow;
  /** From `retry-after-ms`, else `retry-after` (seconds or an HTTP date). */
  retryAfterMs?: number;
}

/** Anything headers can be read from: a fetch `Headers`, or a plain object with lower- or any-case names. */
export type HeaderSource =
  | { get(name: string): string | null }
  | Readonly<Record<string, string | readonly string[] | undefined>>;

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

function reader(source: HeaderSource): (name: string) => string | undefined {
  if (typeof (source as { get?: unknown }).get === 'function') {
    const headers = source as { get(name: string): string | null };
    return (name) => headers.get(name) ?? undefined;
  }
  const lower = new Map<string, string>();
  for (const [key, value] of Object.entries(
    source as Record<string, string | readonly string[] | undefined>,
  )) {
    if (value === undefined) continue;
    lower.set(key.toLowerCase(), typeof value === 'string' ? value : value.join(', '));
  }
  return (name) => lower.get(name);
}

/** A count: a finite number >= 0 (`-1`, `NaN`, `12abc` are unknown). */
export function parseCount(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (!/^\d+(\.\d+)?$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

/**
 * A window from its three parts. A limit of 0 or less (Azure's `-1`) or a remaining above the limit
 * makes the whole window unknown: nothing half-read is trusted.
 */
function windowOf(
  limit: number | undefined,
  remaining: number | undefined,
  resetMs: number | undefined,
  windowMs: number | undefined,
): LimitWindow | undefined {
  if (limit === undefined || limit <= 0) return undefined;
  const window: LimitWindow = { limit };
  if (remaining !== undefined) {
    if (remaining > limit) return undefined;
    window.remaining = remaining;
  }
  if (resetMs !== undefined) window.resetMs = resetMs;
  if (windowMs !== undefined) window.windowMs = windowMs;
  return window;
}

/**
 * Whether an `x-ratelimit-*-requests` window counts per day (Groq) rather than per minute: a reset
 * of over an hour can only be a long window. (A smaller reset is read as per minute; if that is
 * wrong, the 429s it causes while the headers say there is room make the controller pace from
 * what it observes instead.)
 */
function periodOf(window: LimitWindow): number {
  return window.resetMs !== undefined && window.resetMs > HOUR_MS ? DAY_MS : MINUTE_MS;
}

function readOpenAi(get: (name: string) => string | undefined, out: NormalizedLimits): boolean {
  let found = false;
  for (const dim of ['requests', 'tokens'] as const) {
    const window = windowOf(
      parseCount(get(`x-ratelimit-limit-${dim}`)),
      parseCount(get(`x-ratelimit-remaining-${dim}`)),
      parseDuration(get(`x-ratelimit-reset-${dim}`)),
      undefined,
    );
    if (!window) continue;
    found = true;
    window.windowMs = dim === 'requests' ? periodOf(window) : MINUTE_MS;
    if (dim === 'requests' && window.windowMs > HOUR_MS) out.requestsLong = window;
    else out[dim] = window;
  }
  return found;
}

function readAnthropic(
  get: (name: string) => string | undefined,
  now: number,
  out: NormalizedLimits,
): boolean {
  let found = false;
  const dims = {
    requests: 'requests',
    tokens: 'tokens',
    'input-tokens': 'inputTokens',
    'output-tokens': 'outputTokens',
  } as const;
  for (const [name, key] of Object.entries(dims)) {
    const window = windowOf(
      parseCount(get(`anthropic-ratelimit-${name}-limit`)),
      parseCount(get(`anthropic-ratelimit-${name}-remaining`)),
      parseInstant(get(`anthropic-ratelimit-${name}-reset`), now),
      MINUTE_MS,
    );
    if (!window) continue;
    found = true;
    if (window.resetMs !== undefined) window.resetAt = now + window.resetMs;
    out[key] = window;
  }
  return found;
}

/** An RFC 3339 instant (`2025-08-21T12:40:59Z`) as milliseconds from now, clamped to 0..24 h. */
export function parseInstant(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.min(DAY_MS, Math.max(0, at - now));
}

function numberParam(item: SfItem, key: string): number | undefined {
  const value = item.params.get(key);
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

/** IETF draft 08+: `RateLimit-Policy: "p";q=100;w=60` and `RateLimit: "p";r=50;t=30`. */
function readIetf(get: (name: string) => string | undefined, out: NormalizedLimits): boolean {
  const policies = parseStructuredList(get('ratelimit-policy'));
  const raw = get('ratelimit');
  const dictionary = parseStructuredDictionary(raw);
  if (dictionary.has('limit')) return readDraft07(dictionary, policies, out);
  const current = parseStructuredList(raw);
  let found = false;
  for (const policy of policies) {
    const unit = policy.params.get('qu');
    if (unit !== undefined && unit !== 'requests') continue;
    const quota = numberParam(policy, 'q');
    const windowS = numberParam(policy, 'w');
    const state = current.find((item) => item.value === policy.value);
    const remaining = state ? numberParam(state, 'r') : undefined;
    const resetS = state ? numberParam(state, 't') : undefined;
    const window = windowOf(
      quota,
      remaining,
      resetS === undefined ? undefined : Math.min(DAY_MS, resetS * 1000),
      windowS === undefined || windowS <= 0 ? undefined : Math.min(DAY_MS, windowS * 1000),
    );
    if (!window) continue;
    found = true;
    keepTightest(out, window);
  }
  return found;
}

/** Draft 07: `RateLimit: limit=100, remaining=50, reset=5` (a dictionary) and `RateLimit-Policy: 100;w=60`. */
function readDraft07(fields: Map<string, SfItem>, policies: SfItem[], out: NormalizedLimits): boolean {
  const windowS = policies[0] ? numberParam(policies[0], 'w') : undefined;
  const value = (key: string) => {
    const item = fields.get(key)?.value;
    return typeof item === 'number' && Number.isFinite(item) && item >= 0 ? item : undefined;
  };
  const resetS = value('reset');
  const window = windowOf(
    value('limit'),
    value('remaining'),
    resetS === undefined ? undefined : Math.min(DAY_MS, resetS * 1000),
    windowS === undefined || windowS <= 0 ? undefined : Math.min(DAY_MS, windowS * 1000),
  );
  if (!window) return false;
  keepTightest(out, window);
  return true;
}

/** Among several request policies, pacing follows the one with the lowest sustained rate per window length class. */
function keepTightest(out: NormalizedLimits, window: LimitWindow): void {
  const key = (window.windowMs ?? MINUTE_MS) > HOUR_MS ? 'requestsLong' : 'requests';
  const previous = out[key];
  const rate = (w: LimitWindow) => w.limit / (w.windowMs ?? MINUTE_MS);
  if (!previous || rate(window) < rate(previous)) out[key] = window;
}

/**
 * The older `RateLimit-Limit: 100` (or `100, 100;w=60`), `RateLimit-Remaining`, `RateLimit-Reset`
 * (delta seconds, or a Unix time when it looks like one), and the same under `X-RateLimit-*`.
 */
function readLegacy(get: (name: string) => string | undefined, now: number, out: NormalizedLimits): boolean {
  for (const prefix of ['ratelimit', 'x-ratelimit']) {
    const limitItems = parseStructuredList(get(`${prefix}-limit`));
    const first = limitItems[0];
    const limit = first && typeof first.value === 'number' ? first.value : undefined;
    const windowItem = limitItems.find((item) => item.params.has('w') || item.params.has('window'));
    const windowS = windowItem
      ? (numberParam(windowItem, 'w') ?? numberParam(windowItem, 'window'))
      : undefined;
    const resetRaw = parseCount(get(`${prefix}-reset`));
    let resetMs: number | undefined;
    // A value past 2001-09-09 in seconds is a Unix time, not a delta.
    const unix = resetRaw !== undefined && resetRaw > 1e9;
    if (resetRaw !== undefined)
      resetMs = Math.min(DAY_MS, Math.max(0, unix ? resetRaw * 1000 - now : resetRaw * 1000));
    const window = windowOf(
      limit,
      parseCount(get(`${prefix}-remaining`)),
      resetMs,
      windowS === undefined || windowS <= 0 ? undefined : Math.min(DAY_MS, windowS * 1000),
    );
    if (!window) continue;
    if (unix && resetMs !== undefined) window.resetAt = now + resetMs;
    keepTightest(out, window);
    return true;
  }
  return false;
}

/**
 * Reads whatever rate-limit headers an answer carries. Returns undefined when it carries none that
 * parse (the controller then knows the headers are absent, not "unlimited").
 */
export function parseLimits(source: HeaderSource, now: number): NormalizedLimits | undefined {
  const get = reader(source);
  const out: NormalizedLimits = {};
  if (readOpenAi(get, out)) out.dialect = 'openai';
  else if (readAnthropic(get, now, out)) out.dialect = 'anthropic';
  else if (readIetf(get, out)) out.dialect = 'ietf';
  else if (readLegacy(get, now, out)) out.dialect = 'ratelimit';
  const retryAfterMs = parseRetryAfter(get('retry-after-ms'), get('retry-after'), now);
  if (retryAfterMs !== undefined) out.retryAfterMs = retryAfterMs;
  return Object.keys(out).length === 0 ? undefined : out;
}
