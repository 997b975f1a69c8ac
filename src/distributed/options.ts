/** The options of a distributed run (coordinator side): one defaults constant, validated up front, frozen. */
import { InputError } from '../errors.js';

/** What a worker runs for a run: a task module, or keybatch's own prompt task (runPrompts). */
export type RemoteTaskSpec =
  | { kind: 'module'; ref: string }
  | { kind: 'prompts'; settings: PromptTaskSettings };

/** What the built-in prompt task needs to turn a record into its output row. */
export interface PromptTaskSettings {
  model: string | undefined;
  params: Record<string, unknown>;
  raw: boolean;
  format: 'rows' | 'batch';
  /** Structured outputs: the run's JSON Schema (checked on the worker with ajv) and its re-ask bound. */
  schema?: { name: string; json: Record<string, unknown> };
  reask?: number;
}

export interface DistributedOptions {
  /** The Redis the queue lives on, e.g. `redis://10.0.0.5:6379` (workers use the same). Required. */
  redis: string;
  /** Prefix of every Redis key of keybatch's queue and run registry. @default 'keybatch' */
  namespace?: string;
  /**
   * Chunks in Redis at once (queued, running, or done and not yet checkpointed): what sits in
   * Redis stays bounded whatever the input size. Enough to keep every worker busy.
   * @default 64
   */
  window?: number;
  /**
   * How long a worker's claim on a chunk lasts without renewal (renewed at half of it while the
   * chunk runs). A killed worker's chunks go back to the queue after about this plus
   * `stalledIntervalMs`.
   * @default 30000
   */
  lockDurationMs?: number;
  /** How often workers look for chunks whose worker died. @default 15000 */
  stalledIntervalMs?: number;
  /** Times a chunk may go back to the queue that way before it counts as a failed attempt. @default 5 */
  maxStalled?: number;
  /** How often the coordinator looks in Redis for results an event may have missed. @default 5000 */
  sweepIntervalMs?: number;
  /** How often workers' status (count, rate, in flight, last seen) is read. @default 1000 */
  statusIntervalMs?: number;
  /**
   * Chunks this process runs itself at once, besides the workers' (an in-process worker over this
   * run's key pool); 0: only workers run them.
   * @default 0
   */
  lanes?: number;
  /**
   * Sign the run's descriptor in Redis with this shared secret (HMAC-SHA256); workers that have a
   * secret refuse descriptors not signed with theirs.
   * @default $KEYBATCH_SECRET, else unsigned
   */
  secret?: string;
  /** @internal Set by runPrompts: workers run the built-in prompt task with these settings. */
  task?: RemoteTaskSpec;
}

export const DISTRIBUTED_DEFAULTS = Object.freeze({
  namespace: 'keybatch',
  window: 64,
  lockDurationMs: 30_000,
  stalledIntervalMs: 15_000,
  maxStalled: 5,
  sweepIntervalMs: 5_000,
  statusIntervalMs: 1_000,
  lanes: 0,
});

export type ResolvedDistributed = Readonly<
  DistributedOptions & { [K in keyof typeof DISTRIBUTED_DEFAULTS]: (typeof DISTRIBUTED_DEFAULTS)[K] }
>;

const describe = (value: unknown) => `\`${String(value)}\` (${typeof value})`;

function integer(name: string, value: unknown, min: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new InputError(
      `Expected \`distributed.${name}\` to be a whole number >= ${min}, got ${describe(value)}`,
    );
  }
}

/** A Redis URL as shown in messages: its password (if any) replaced by `***`. */
export function redactRedisUrl(url: string): string {
  return url.replace(/^(rediss?:\/\/)([^@/]*)@/, (_all, scheme: string, auth: string) => {
    const user = auth.includes(':') ? auth.slice(0, auth.indexOf(':')) : '';
    return `${scheme}${user}:***@`;
  });
}

/** Checks a Redis URL (redis:// or rediss://). */
export function checkRedisUrl(url: unknown, name = 'distributed.redis'): string {
  if (typeof url !== 'string' || !/^rediss?:\/\/[^\s]+$/.test(url)) {
    throw new InputError(
      `Expected \`${name}\` to be a Redis URL (redis://host:port), got ${describe(typeof url === 'string' ? redactRedisUrl(url) : url)}`,
    );
  }
  return url;
}

export function resolveDistributed(options: DistributedOptions): ResolvedDistributed {
  if (typeof options !== 'object' || options === null) {
    throw new InputError(`Expected \`distributed\` to be an object { redis }, got ${describe(options)}`);
  }
  const resolved: Record<string, unknown> = { ...DISTRIBUTED_DEFAULTS };
  for (const [key, value] of Object.entries(options)) {
    if (value !== undefined) resolved[key] = value;
  }
  checkRedisUrl(resolved['redis']);
  if (typeof resolved['namespace'] !== 'string' || !/^[\w.-]+$/.test(resolved['namespace'])) {
    throw new InputError(
      `Expected \`distributed.namespace\` to be letters, digits, '.', '_' or '-', got ${describe(resolved['namespace'])}`,
    );
  }
  const secret = resolved['secret'];
  if (secret !== undefined && (typeof secret !== 'string' || secret === '')) {
    throw new InputError('Expected `distributed.secret` to be a non-empty string (not shown)');
  }
  integer('window', resolved['window'], 1);
  integer('lockDurationMs', resolved['lockDurationMs'], 100);
  integer('stalledIntervalMs', resolved['stalledIntervalMs'], 100);
  integer('maxStalled', resolved['maxStalled'], 1);
  integer('sweepIntervalMs', resolved['sweepIntervalMs'], 10);
  integer('statusIntervalMs', resolved['statusIntervalMs'], 10);
  integer('lanes', resolved['lanes'], 0);
  return Object.freeze(resolved) as unknown as ResolvedDistributed;
}
