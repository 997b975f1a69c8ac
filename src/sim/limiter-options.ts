/**
 * Validation and defaults of the `limiter` and `headers` sections (per key, or for every key):
 * unknown fields are refused by name, every value checked.
 */
import type { SimDialect, SimRetryAfter } from './types.js';
import { count, fail, isPlainObject, oneOf, optionalBoolean, refuseUnknown } from './validate.js';

export type ResolvedLimiter =
  | { readonly kind: 'bucket'; readonly enforceMs: number | undefined; readonly settleTokens: boolean }
  | { readonly kind: 'sliding' | 'fixed'; readonly settleTokens: boolean }
  | {
      readonly kind: 'slots';
      readonly slots: number;
      readonly queue: number;
      /** `undefined`: each request's drawn latency. */
      readonly serviceMs: number | undefined;
    }
  | {
      readonly kind: 'batching';
      readonly slots: number;
      readonly queue: number;
      /** A request's service time alone in the batch, less `perRunningMs`; `undefined`: its drawn latency. */
      readonly baseMs: number | undefined;
      /** What each request running beside it (itself included) adds to a request's service time. */
      readonly perRunningMs: number;
    };

/** The limiter kinds without a rate limit: slots served at once, a queue, then 503. */
export type SlotBound = Extract<ResolvedLimiter, { kind: 'slots' | 'batching' }>;

export function isSlotBound(limiter: ResolvedLimiter): limiter is SlotBound {
  return limiter.kind === 'slots' || limiter.kind === 'batching';
}

export interface ResolvedHeaders {
  readonly dialect: SimDialect;
  readonly retryAfter: SimRetryAfter;
  readonly bare429: boolean;
  /** The meters whose `x-ratelimit-*` values are sent as `-1` / `0`. */
  readonly unknownValues: { readonly requests: boolean; readonly tokens: boolean };
}

export const LIMITER_KINDS = ['bucket', 'sliding', 'fixed', 'slots', 'batching'] as const;
export const DIALECTS: readonly SimDialect[] = [
  'openai',
  'azure',
  'ietf',
  'ietf-legacy',
  'anthropic',
  'none',
];
export const RETRY_AFTER_FORMS: readonly SimRetryAfter[] = ['ms', 'seconds', 'date', 'none'];

/** Ollama's default `OLLAMA_MAX_QUEUE`. */
export const DEFAULT_QUEUE = 512;

/** vLLM's default `max_num_seqs`: the requests one continuous batch holds. */
export const DEFAULT_BATCH_SLOTS = 256;

const LIMITER_FIELDS: Record<ResolvedLimiter['kind'], readonly string[]> = {
  bucket: ['kind', 'enforceMs', 'settleTokens'],
  sliding: ['kind', 'settleTokens'],
  fixed: ['kind', 'settleTokens'],
  slots: ['kind', 'slots', 'queue', 'serviceMs'],
  batching: ['kind', 'slots', 'queue', 'baseMs', 'perRunningMs'],
};

const HEADER_FIELDS = ['dialect', 'retryAfter', 'bare429', 'unknownValues'];

export const DEFAULT_LIMITER: ResolvedLimiter = Object.freeze({
  kind: 'bucket',
  enforceMs: undefined,
  settleTokens: false,
});

export const DEFAULT_HEADERS: ResolvedHeaders = Object.freeze({
  dialect: 'openai',
  retryAfter: 'ms',
  bare429: false,
  unknownValues: Object.freeze({ requests: false, tokens: false }),
});

/** The `retry-after` form a dialect's servers send: `retry-after-ms` for OpenAI and Azure, seconds otherwise. */
export function defaultRetryAfter(dialect: SimDialect): SimRetryAfter {
  return dialect === 'openai' || dialect === 'azure' || dialect === 'none' ? 'ms' : 'seconds';
}

/** A `limiter` section; `undefined` gives `fallback`. */
export function resolveLimiter(value: unknown, field: string, fallback: ResolvedLimiter): ResolvedLimiter {
  if (value === undefined) return fallback;
  if (!isPlainObject(value)) fail(field, `an object with a \`kind\``, value);
  const kind = oneOf(value['kind'], `${field}.kind`, LIMITER_KINDS);
  refuseUnknown(value, field, LIMITER_FIELDS[kind], `kind '${kind}'`);
  if (kind === 'slots') {
    return Object.freeze({
      kind,
      slots: count(value['slots'], `${field}.slots`, 1, 1),
      queue: count(value['queue'], `${field}.queue`, DEFAULT_QUEUE, 0),
      serviceMs: optionalMs(value['serviceMs'], `${field}.serviceMs`),
    });
  }
  if (kind === 'batching') {
    const perRunningMs = optionalMs(value['perRunningMs'], `${field}.perRunningMs`);
    if (perRunningMs === undefined) fail(`${field}.perRunningMs`, 'a finite number >= 0', perRunningMs);
    return Object.freeze({
      kind,
      slots: count(value['slots'], `${field}.slots`, DEFAULT_BATCH_SLOTS, 1),
      queue: count(value['queue'], `${field}.queue`, DEFAULT_QUEUE, 0),
      baseMs: optionalMs(value['baseMs'], `${field}.baseMs`),
      perRunningMs,
    });
  }
  const settleTokens = optionalBoolean(value['settleTokens'], `${field}.settleTokens`, false);
  if (kind === 'bucket') {
    const enforceMs =
      value['enforceMs'] === undefined ? undefined : count(value['enforceMs'], `${field}.enforceMs`, 0, 1);
    return Object.freeze({ kind, enforceMs, settleTokens });
  }
  return Object.freeze({ kind, settleTokens });
}

/** A duration in milliseconds, fractions allowed; `undefined` stays `undefined`. */
function optionalMs(value: unknown, field: string): number | undefined {
  if (value !== undefined && (typeof value !== 'number' || !(value >= 0) || !Number.isFinite(value))) {
    fail(field, 'a finite number >= 0', value);
  }
  return value;
}

function resolveUnknownValues(value: unknown, field: string): ResolvedHeaders['unknownValues'] {
  if (value === undefined || value === false) return DEFAULT_HEADERS.unknownValues;
  if (value === true) return Object.freeze({ requests: true, tokens: true });
  if (value === 'requests' || value === 'tokens') {
    return Object.freeze({ requests: value === 'requests', tokens: value === 'tokens' });
  }
  return fail(field, "true, false, 'requests' or 'tokens'", value);
}

/** A `headers` section; `undefined` gives `fallback`. */
export function resolveHeaders(value: unknown, field: string, fallback: ResolvedHeaders): ResolvedHeaders {
  if (value === undefined) return fallback;
  if (!isPlainObject(value)) fail(field, 'an object', value);
  refuseUnknown(value, field, HEADER_FIELDS, 'the rate-limit headers');
  const dialect =
    value['dialect'] === undefined ? 'openai' : oneOf(value['dialect'], `${field}.dialect`, DIALECTS);
  const retryAfter =
    value['retryAfter'] === undefined
      ? defaultRetryAfter(dialect)
      : oneOf(value['retryAfter'], `${field}.retryAfter`, RETRY_AFTER_FORMS);
  return Object.freeze({
    dialect,
    retryAfter,
    bare429: optionalBoolean(value['bare429'], `${field}.bare429`, false),
    unknownValues: resolveUnknownValues(value['unknownValues'], `${field}.unknownValues`),
  });
}
