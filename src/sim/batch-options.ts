/**
 * Validation and defaults of the simulator's `batch` section (the Batch API's time scale, expiry,
 * enqueued-token cap and limits). Unknown fields are refused by name.
 */
import { count, fail, isPlainObject, refuseUnknown } from './validate.js';

export const BATCH_DEFAULTS = Object.freeze({
  dayMs: 86_400_000,
  maxRequests: 50_000,
  maxFileBytes: 200 * 1024 * 1024,
  seed: 1,
});

const BATCH_FIELDS = [
  'dayMs',
  'validateMs',
  'processMs',
  'finalizeMs',
  'expireLines',
  'enqueuedTokenLimit',
  'maxRequests',
  'maxFileBytes',
  'seed',
] as const;

export interface ResolvedBatchOptions {
  readonly dayMs: number;
  readonly validateMs: number;
  readonly processMs: number;
  readonly finalizeMs: number;
  readonly expireLines: number;
  /** Per model; `'*'` for every model without its own. */
  readonly enqueuedTokenLimit: ReadonlyMap<string, number>;
  readonly maxRequests: number;
  readonly maxFileBytes: number;
  readonly seed: number;
}

function tokenLimits(value: unknown): Map<string, number> {
  const limits = new Map<string, number>();
  if (value === undefined) return limits;
  if (typeof value === 'number') {
    limits.set('*', count(value, 'batch.enqueuedTokenLimit', 0, 1));
    return limits;
  }
  if (!isPlainObject(value)) {
    fail('batch.enqueuedTokenLimit', 'an integer >= 1 or { "<model>": <integer >= 1> }', value);
  }
  for (const [model, limit] of Object.entries(value)) {
    limits.set(model, count(limit, `batch.enqueuedTokenLimit.${model}`, 0, 1));
  }
  return limits;
}

export function resolveBatchOptions(value: unknown): ResolvedBatchOptions {
  const section: unknown = value ?? {};
  if (!isPlainObject(section)) fail('batch', 'an object', section);
  refuseUnknown(section, 'batch', BATCH_FIELDS, 'batch');
  const dayMs = count(section['dayMs'], 'batch.dayMs', BATCH_DEFAULTS.dayMs, 1);
  const phase = (field: string, divisor: number) =>
    count(section[field], `batch.${field}`, Math.max(1, Math.round(dayMs / divisor)));
  const processMs = phase('processMs', 20);
  if (processMs > dayMs) fail('batch.processMs', `at most batch.dayMs (${dayMs})`, processMs);
  return Object.freeze({
    dayMs,
    validateMs: phase('validateMs', 200),
    processMs,
    finalizeMs: phase('finalizeMs', 200),
    expireLines: count(section['expireLines'], 'batch.expireLines', 0),
    enqueuedTokenLimit: tokenLimits(section['enqueuedTokenLimit']),
    maxRequests: count(section['maxRequests'], 'batch.maxRequests', BATCH_DEFAULTS.maxRequests, 1),
    maxFileBytes: count(section['maxFileBytes'], 'batch.maxFileBytes', BATCH_DEFAULTS.maxFileBytes, 1),
    seed: count(section['seed'], 'batch.seed', BATCH_DEFAULTS.seed),
  });
}
