/**
 * The shared pool's policy as pure functions: what a key's fields in Redis mean for this process's
 * view of the key, and which counter deltas to send.
 * No Redis and no clock here: Redis's `now` and the local `now` are passed in.
 */
import { MAX_WAIT_MS } from '../pacing/durations.js';
import type { SharedCounters } from '../types.js';

export type OutState = 'invalid' | 'exhausted';

/** A key as Redis has it (HGETALL of `…:key:<hash>`). */
export interface RemoteKey {
  state?: OutState;
  reason?: string;
  denied: string[];
  /** Cooling until this instant of Redis's clock. */
  cool?: number;
  counters: Counters;
}

/** Per-key counters summed over every process (`status().keys[i].shared`). */
export type Counters = SharedCounters;

/** What this process knows of a key, to merge into. */
export interface LocalKey {
  state: 'ready' | 'cooling' | 'exhausted' | 'invalid';
  denied: ReadonlySet<string>;
  coolingUntil: number;
}

/** What to change locally; absent fields change nothing. */
export interface KeyUpdate {
  state?: OutState;
  reason?: string;
  deny?: string[];
  /** Cooling until this local instant. */
  coolUntil?: number;
}

export const emptyCounters = (): Counters => ({ requests: 0, successes: 0, tokens: 0, cost: 0, errors: {} });

/** Fields of an HGETALL reply (`[field, value, field, value, …]`) as a map. */
export function fieldMap(reply: unknown): Map<string, string> {
  const map = new Map<string, string>();
  if (!Array.isArray(reply)) return map;
  for (let i = 0; i + 1 < reply.length; i += 2) map.set(String(reply[i]), String(reply[i + 1]));
  return map;
}

const number = (text: string | undefined) => {
  const value = Number(text);
  return Number.isFinite(value) ? value : 0;
};

export function parseKey(fields: Map<string, string>): RemoteKey {
  const key: RemoteKey = { denied: [], counters: emptyCounters() };
  const state = fields.get('state');
  if (state === 'invalid' || state === 'exhausted') key.state = state;
  const reason = fields.get('reason');
  if (reason) key.reason = reason;
  const cool = number(fields.get('cool'));
  if (cool > 0) key.cool = cool;
  for (const [field, value] of fields) {
    if (field.startsWith('denied:')) key.denied.push(field.slice(7));
    else if (field.startsWith('e:')) key.counters.errors[field.slice(2)] = number(value);
  }
  key.counters.requests = number(fields.get('requests'));
  key.counters.successes = number(fields.get('successes'));
  key.counters.tokens = number(fields.get('tokens'));
  key.counters.cost = number(fields.get('cost'));
  return key;
}

/**
 * What another process found out about a key that this one has not: out for good (invalid beats
 * exhausted), models denied, cooling longer. `redisNow` and `localNow` are the two clocks at the
 * same moment (a cooling instant of Redis's clock becomes one of ours).
 */
export function mergeKey(
  local: LocalKey,
  remote: RemoteKey,
  redisNow: number,
  localNow: number,
): KeyUpdate | undefined {
  const update: KeyUpdate = {};
  if (remote.state === 'invalid' && local.state !== 'invalid') update.state = 'invalid';
  else if (remote.state === 'exhausted' && (local.state === 'ready' || local.state === 'cooling'))
    update.state = 'exhausted';
  if (update.state !== undefined)
    update.reason = remote.reason ?? `${update.state} (seen by another process)`;
  const deny = remote.denied.filter((model) => !local.denied.has(model));
  if (deny.length > 0) update.deny = deny;
  if (update.state === undefined && remote.cool !== undefined && remote.cool > redisNow) {
    // Clamped like a wait read from headers: anyone who can write Redis can write any instant.
    const until = localNow + Math.min(MAX_WAIT_MS, remote.cool - redisNow);
    const out = local.state === 'exhausted' || local.state === 'invalid';
    // Later by more than a timer's slack: a cooling this process already has is not news.
    if (!out && until > local.coolingUntil + 50) update.coolUntil = until;
  }
  return Object.keys(update).length > 0 ? update : undefined;
}

/** `field value …` of what grew since the last flush (the SYNC script's per-key argument). */
export function counterDeltas(current: Counters, flushed: Counters): string {
  const parts: string[] = [];
  const add = (field: string, now: number, before: number) => {
    const delta = now - before;
    if (delta > 0 && Number.isFinite(delta)) parts.push(`${field} ${delta}`);
  };
  add('requests', current.requests, flushed.requests);
  add('successes', current.successes, flushed.successes);
  add('tokens', current.tokens, flushed.tokens);
  add('cost', current.cost, flushed.cost);
  for (const [outcome, count] of Object.entries(current.errors))
    add(`e:${outcome}`, count, flushed.errors[outcome] ?? 0);
  return parts.join(' ');
}
