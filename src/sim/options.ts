/**
 * Validation and defaults of the simulator options. Every problem names the option and the value
 * received; a key is only ever named redacted.
 */
import { createHash } from 'node:crypto';
import { InputError } from '../errors.js';
import { redactKey } from '../keys/redact.js';
import { type ResolvedBatchOptions, resolveBatchOptions } from './batch-options.js';
import {
  DEFAULT_HEADERS,
  DEFAULT_LIMITER,
  isSlotBound,
  type ResolvedHeaders,
  type ResolvedLimiter,
  resolveHeaders,
  resolveLimiter,
} from './limiter-options.js';
import { type ResolvedStructured, resolveStructured } from './structured.js';
import type { SimFault, SimulatorOptions } from './types.js';
import { count, fail, isPlainObject, refuseUnknown } from './validate.js';

/**
 * Models every simulator accepts besides its `models` option; any other model answers 404
 * `model_not_found`, as the API does for a name it does not know.
 */
export const KNOWN_MODELS: readonly string[] = Object.freeze([
  'gpt-4o-mini',
  'gpt-4o',
  'gpt-4.1',
  'gpt-4.1-mini',
  'gpt-4.1-nano',
  'gpt-4-turbo',
  'gpt-4',
  'gpt-3.5-turbo',
  'gpt-3.5-turbo-instruct',
  'gpt-5',
  'gpt-5-mini',
  'gpt-5-nano',
  'o1',
  'o1-mini',
  'o3',
  'o3-mini',
  'o4-mini',
  'text-embedding-3-small',
  'text-embedding-3-large',
  'text-embedding-ada-002',
  'babbage-002',
  'davinci-002',
]);

/** Whether `model` is in `accepted`, or is a dated snapshot (`gpt-4o-2024-08-06`) of one in it. */
export function acceptsModel(accepted: ReadonlySet<string>, model: string): boolean {
  return accepted.has(model) || accepted.has(model.replace(/-\d{4}-\d{2}-\d{2}$/, ''));
}

const OPTION_FIELDS = [
  'keys',
  'latencyMs',
  'port',
  'models',
  'faults',
  'contextLimit',
  'limiter',
  'headers',
  'batch',
  'structured',
] as const;
const KEY_FIELDS = [
  'key',
  'quota',
  'requestsPerWindow',
  'tokensPerWindow',
  'windowMs',
  'models',
  'group',
  'organization',
  'tokenWindowMs',
  'limiter',
  'headers',
] as const;
const FAULT_FIELDS = ['errorRate', 'dropRate', 'hangRate', 'seed'] as const;

export const SIMULATOR_DEFAULTS = Object.freeze({
  latencyMs: 0,
  port: 0,
  models: Object.freeze(['gpt-4o-mini', 'gpt-4o', 'text-embedding-3-small', 'gpt-3.5-turbo-instruct']),
  contextLimit: 128_000,
  windowMs: 60_000,
  seed: 1,
  faultRetryAfterMs: 1000,
});

/** A key spec with every default filled in. */
export interface ResolvedKey {
  readonly key: string;
  /** `redactKey(key)`: how the key is shown anywhere. */
  readonly label: string;
  readonly quota: number;
  readonly requestsPerWindow: number;
  readonly tokensPerWindow: number;
  readonly windowMs: number;
  /** The window of `tokensPerWindow` (Groq: tokens per minute beside requests per day). */
  readonly tokenWindowMs: number;
  readonly limiter: ResolvedLimiter;
  readonly headers: ResolvedHeaders;
  readonly models: ReadonlySet<string> | null;
  /** Identifies the shared rate-limit buckets; internal only (it may contain the key). */
  readonly bucketId: string;
  /** What error messages may call the organization (never the key). */
  readonly organizationLabel: string;
  readonly organization: string | undefined;
  /**
   * The organization files and batches of this key belong to: its `organization`, else one of its
   * own (`org-sim-` + a hash of the key).
   */
  readonly orgId: string;
  /** How stats name the key's rate-limit group: its `group`, else the redacted key. */
  readonly groupLabel: string;
}

/** What keys without their own `limiter` / `headers` sections get. */
export interface KeyDefaults {
  readonly limiter: ResolvedLimiter;
  readonly headers: ResolvedHeaders;
}

const KEY_DEFAULTS: KeyDefaults = Object.freeze({ limiter: DEFAULT_LIMITER, headers: DEFAULT_HEADERS });

export interface ResolvedOptions {
  readonly keys: readonly ResolvedKey[];
  readonly latency: { readonly min: number; readonly max: number };
  readonly port: number;
  /** Served by `/v1/models`. */
  readonly models: readonly string[];
  /** Accepted by the model endpoints (for keys without their own `models`): `KNOWN_MODELS` + `models`. */
  readonly acceptedModels: ReadonlySet<string>;
  readonly contextLimit: number;
  readonly batch: ResolvedBatchOptions;
  readonly errorRate: number;
  readonly dropRate: number;
  readonly hangRate: number;
  readonly seed: number;
  readonly keyDefaults: KeyDefaults;
  /** The structured-outputs scenario, if any. */
  readonly structured: ResolvedStructured | undefined;
}

function rate(value: unknown, field: string): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) fail(field, 'a number from 0 to 1', value);
  return value;
}

function stringList(value: unknown, field: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((m) => typeof m === 'string' && m.length > 0)) {
    fail(field, 'an array of non-empty strings', value);
  }
  return value as string[];
}

function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0) fail(field, 'a non-empty string', value);
  return value;
}

function resolveKey(spec: unknown, index: number, defaults: KeyDefaults): ResolvedKey {
  const at = `keys[${index}]`;
  if (!isPlainObject(spec)) fail(at, 'an object', spec);
  refuseUnknown(spec, at, KEY_FIELDS, 'a simulator key');
  if (typeof spec['key'] !== 'string' || spec['key'].length === 0) {
    // Never echo the value: it may be a key.
    throw new InputError(`Simulator option \`${at}.key\` must be a non-empty string`);
  }
  const key = spec['key'];
  const label = redactKey(key);
  const where = `${at}.` as const;
  const group = optionalString(spec['group'], `${where}group`);
  const organization = optionalString(spec['organization'], `${where}organization`);
  const models = stringList(spec['models'], `${where}models`);
  const limiter = resolveLimiter(spec['limiter'], `${where}limiter`, defaults.limiter);
  if (isSlotBound(limiter)) {
    for (const field of ['requestsPerWindow', 'tokensPerWindow'] as const) {
      if (spec[field] !== undefined) {
        throw new InputError(
          `Simulator option \`${where}${field}\` cannot be used with limiter kind '${limiter.kind}' (a ${limiter.kind} server has no rate limit)`,
        );
      }
    }
  }
  const windowMs = count(spec['windowMs'], `${where}windowMs`, SIMULATOR_DEFAULTS.windowMs, 1);
  return Object.freeze({
    key,
    label,
    quota: count(spec['quota'], `${where}quota`, Number.POSITIVE_INFINITY),
    requestsPerWindow: count(
      spec['requestsPerWindow'],
      `${where}requestsPerWindow`,
      Number.POSITIVE_INFINITY,
      1,
    ),
    tokensPerWindow: count(spec['tokensPerWindow'], `${where}tokensPerWindow`, Number.POSITIVE_INFINITY, 1),
    windowMs,
    tokenWindowMs: count(spec['tokenWindowMs'], `${where}tokenWindowMs`, windowMs, 1),
    limiter,
    headers: resolveHeaders(spec['headers'], `${where}headers`, defaults.headers),
    models: models ? new Set(models) : null,
    bucketId: group !== undefined ? `group:${group}` : `key:${key}`,
    organizationLabel: organization ?? group ?? `org-sim-${label.slice(-4)}`,
    organization,
    orgId: organization ?? `org-sim-${createHash('sha256').update(key).digest('hex').slice(0, 16)}`,
    groupLabel: group ?? label,
  });
}

/** Validates a key table; duplicate key strings are refused. */
export function resolveKeys(keys: unknown, defaults: KeyDefaults = KEY_DEFAULTS): ResolvedKey[] {
  if (!Array.isArray(keys)) fail('keys', 'an array of key specs', keys);
  const resolved = keys.map((spec, index) => resolveKey(spec, index, defaults));
  const seen = new Set<string>();
  for (const [index, spec] of resolved.entries()) {
    if (seen.has(spec.key)) {
      throw new InputError(`Simulator option \`keys[${index}].key\` repeats the key ${spec.label}`);
    }
    seen.add(spec.key);
  }
  return resolved;
}

function resolveLatency(value: unknown): { min: number; max: number } {
  if (value === undefined) return { min: SIMULATOR_DEFAULTS.latencyMs, max: SIMULATOR_DEFAULTS.latencyMs };
  if (typeof value === 'number') {
    if (!(value >= 0) || !Number.isFinite(value)) fail('latencyMs', 'a finite number >= 0', value);
    return { min: value, max: value };
  }
  if (isPlainObject(value)) {
    const { min, max } = value;
    if (
      typeof min === 'number' &&
      typeof max === 'number' &&
      min >= 0 &&
      max >= min &&
      Number.isFinite(max)
    ) {
      return { min, max };
    }
  }
  return fail('latencyMs', 'a number >= 0 or { min, max } with 0 <= min <= max', value);
}

/** Validates every option up front and returns the frozen, defaulted result. */
export function resolveSimulatorOptions(options: SimulatorOptions): ResolvedOptions {
  if (!isPlainObject(options)) fail('options', 'an object', options);
  for (const name of Object.keys(options)) {
    if (!(OPTION_FIELDS as readonly string[]).includes(name)) {
      throw new InputError(
        `Simulator option \`${name}\` is not an option of the simulator (its options: ${OPTION_FIELDS.join(', ')})`,
      );
    }
  }
  const faults: unknown = options.faults ?? {};
  if (!isPlainObject(faults)) fail('faults', 'an object', faults);
  refuseUnknown(faults, 'faults', FAULT_FIELDS, 'faults');
  const models = stringList(options.models, 'models') ?? [...SIMULATOR_DEFAULTS.models];
  const port = count(options.port, 'port', SIMULATOR_DEFAULTS.port);
  if (port > 65_535) fail('port', 'an integer from 0 to 65535', port);
  const keyDefaults: KeyDefaults = Object.freeze({
    limiter: resolveLimiter(options.limiter, 'limiter', DEFAULT_LIMITER),
    headers: resolveHeaders(options.headers, 'headers', DEFAULT_HEADERS),
  });
  return Object.freeze({
    keys: Object.freeze(resolveKeys(options.keys, keyDefaults)),
    keyDefaults,
    latency: Object.freeze(resolveLatency(options.latencyMs)),
    port,
    models: Object.freeze(models),
    acceptedModels: new Set([...KNOWN_MODELS, ...models]),
    contextLimit: count(options.contextLimit, 'contextLimit', SIMULATOR_DEFAULTS.contextLimit, 1),
    batch: resolveBatchOptions(options.batch),
    errorRate: rate(faults['errorRate'], 'faults.errorRate'),
    dropRate: rate(faults['dropRate'], 'faults.dropRate'),
    hangRate: rate(faults['hangRate'], 'faults.hangRate'),
    seed: count(faults['seed'], 'faults.seed', SIMULATOR_DEFAULTS.seed),
    structured: resolveStructured(options.structured),
  });
}

/** A validated fault with its defaults filled in. */
export interface ResolvedFault {
  readonly kind: SimFault['kind'];
  readonly status: number;
  remaining: number;
  readonly key: string | undefined;
  readonly retryAfterMs: number;
}

export function resolveFault(fault: SimFault): ResolvedFault {
  if (!isPlainObject(fault)) fail('fault', 'an object', fault);
  if (fault.kind !== 'status' && fault.kind !== 'drop' && fault.kind !== 'hang') {
    fail('fault.kind', "one of 'status', 'drop', 'hang'", fault.kind);
  }
  const status = count(fault.status, 'fault.status', 500, 100);
  if (status > 599) fail('fault.status', 'an HTTP status from 100 to 599', status);
  if (fault.key !== undefined && (typeof fault.key !== 'string' || fault.key.length === 0)) {
    throw new InputError('Simulator option `fault.key` must be a non-empty string');
  }
  return {
    kind: fault.kind,
    status,
    remaining: count(fault.count, 'fault.count', 1, 1),
    key: fault.key,
    retryAfterMs: count(fault.retryAfterMs, 'fault.retryAfterMs', SIMULATOR_DEFAULTS.faultRetryAfterMs),
  };
}
