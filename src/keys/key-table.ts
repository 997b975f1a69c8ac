/**
 * The keys of a pool and their states: applies configs (live reloads keep unchanged keys' state),
 * records outcomes, and answers "which key for this request" through the pure `pickKey`.
 */

import { Budget } from './budget.js';
import type { Outcome } from './classify.js';
import type { KeyConfig, PoolConfig } from './config.js';
import { redactKey } from './redact.js';
import { type KeyView, type Pick, pickKey } from './select.js';
import type { KeyState, KeyStatus, LeaseRequest, LeaseResult } from './types.js';

/** Cooling time after a 429 that says nothing of when to retry. */
const DEFAULT_COOLDOWN_MS = 1000;

export interface KeyEntry {
  id: number;
  config: KeyConfig;
  label: string;
  state: KeyState;
  coolingUntil: number;
  denied: Set<string>;
  budget: Budget;
  requests: number;
  successes: number;
  inFlight: number;
  errors: Partial<Record<Outcome, number>>;
  tokens: number;
}

export interface StateChange {
  key: string;
  from: KeyState;
  to: KeyState | 'denied';
  status?: number | undefined;
  code?: string | undefined;
  model?: string | undefined;
  until?: number | undefined;
}

export interface ReloadDiff {
  added: string[];
  removed: string[];
  changed: string[];
  kept: number;
}

function sameKey(a: KeyConfig, b: KeyConfig): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export class KeyTable {
  keys: KeyEntry[] = [];
  keyIndex = 0;
  private nextId = 1;
  private budgets = new Map<string, Budget>();
  /** Per worker: where its rotation goes next. */
  private cursors = new Map<number, number>();

  constructor(private readonly now: () => number) {}

  /** Applies a (re)loaded config: new keys join, removed keys leave, changed keys start fresh. */
  apply(config: PoolConfig): ReloadDiff {
    const old = new Map(this.keys.map((entry) => [entry.config.apiKey, entry]));
    const diff: ReloadDiff = { added: [], removed: [], changed: [], kept: 0 };
    const budgets = new Map<string, Budget>();
    const keys = config.keys.map((keyConfig) => {
      const previous = old.get(keyConfig.apiKey);
      old.delete(keyConfig.apiKey);
      if (previous && sameKey(previous.config, keyConfig)) {
        diff.kept += 1;
        budgets.set(this.groupOf(previous), previous.budget);
        return previous;
      }
      const entry = this.create(keyConfig, budgets);
      (previous ? diff.changed : diff.added).push(entry.label);
      return entry;
    });
    for (const entry of old.values()) diff.removed.push(entry.label);
    this.keys = keys;
    this.budgets = budgets;
    this.keyIndex = config.keyIndex;
    this.cursors.clear();
    return diff;
  }

  private groupOf(entry: { id: number; config: KeyConfig }): string {
    return entry.config.group !== undefined ? `group:${entry.config.group}` : `key:${entry.id}`;
  }

  private create(config: KeyConfig, budgets: Map<string, Budget>): KeyEntry {
    const id = this.nextId++;
    const group = config.group !== undefined ? `group:${config.group}` : `key:${id}`;
    let budget = budgets.get(group) ?? (config.group !== undefined ? this.budgets.get(group) : undefined);
    budget ??= new Budget(this.now(), { rpm: config.rpm, tpm: config.tpm });
    budgets.set(group, budget);
    return {
      id,
      config,
      label: redactKey(config.apiKey, config.name),
      state: 'ready',
      coolingUntil: 0,
      denied: new Set(),
      budget,
      requests: 0,
      successes: 0,
      inFlight: 0,
      errors: {},
      tokens: 0,
    };
  }

  byId(id: number): KeyEntry | undefined {
    return this.keys.find((entry) => entry.id === id);
  }

  private serves(entry: KeyEntry, model: string | undefined): boolean {
    if (model === undefined) return true;
    if (entry.denied.has(model)) return false;
    return entry.config.models === undefined || entry.config.models.includes(model);
  }

  /** Cooling keys whose time has passed become ready again; returns the changes. */
  thaw(now: number): StateChange[] {
    const changes: StateChange[] = [];
    for (const entry of this.keys) {
      if (entry.state === 'cooling' && entry.coolingUntil <= now) {
        entry.state = 'ready';
        changes.push({ key: entry.label, from: 'cooling', to: 'ready' });
      }
    }
    return changes;
  }

  pick(request: LeaseRequest, now: number): Pick {
    const views: KeyView[] = this.keys.map((entry) => {
      const usable =
        (entry.state === 'ready' || entry.state === 'cooling') && this.serves(entry, request.model);
      if (!usable) return { usable, readyAt: Number.POSITIVE_INFINITY, headroom: 0 };
      const readyAt = Math.max(entry.coolingUntil, entry.budget.readyAt(now, request.tokens));
      return { usable, readyAt, headroom: entry.budget.headroom(now) };
    });
    const start = this.cursors.get(request.workerId) ?? this.keyIndex + request.workerId;
    const pick = pickKey(views, start, now);
    if (pick.kind === 'key') this.cursors.set(request.workerId, pick.index + 1);
    return pick;
  }

  /**
   * Whether no key could ever serve this model without a config edit because every key that is
   * not invalid has refused it (fail fast), as opposed to keys being spent (wait for an edit).
   */
  modelUnavailable(model: string | undefined): boolean {
    if (model === undefined) return false;
    let refused = false;
    for (const entry of this.keys) {
      if (entry.state === 'invalid') continue;
      if (this.serves(entry, model)) return false;
      refused = true;
    }
    return refused;
  }

  /** A short account of why no key is usable: `2 exhausted, 1 invalid`. */
  describe(model: string | undefined): string {
    const counts = new Map<string, number>();
    for (const entry of this.keys) {
      const why =
        entry.state === 'ready' || entry.state === 'cooling' ? `without access to ${model}` : entry.state;
      counts.set(why, (counts.get(why) ?? 0) + 1);
    }
    return [...counts].map(([why, n]) => `${n} ${why}`).join(', ') || 'no keys';
  }

  /** A lease was granted; returns its sequence number in the key's budget. */
  leased(entry: KeyEntry, tokens: number, now: number): number {
    entry.inFlight += 1;
    entry.requests += 1;
    return entry.budget.take(now, tokens);
  }

  /** Records how an attempt ended; returns the state change it caused, if any. */
  settle(entry: KeyEntry, seq: number, result: LeaseResult, now: number): StateChange | undefined {
    entry.inFlight = Math.max(0, entry.inFlight - 1);
    if (result.outcome === 'cancelled') {
      entry.requests = Math.max(0, entry.requests - 1);
      entry.budget.cancel();
      return undefined;
    }
    entry.budget.settle(now, seq, result.rateLimit);
    if (result.tokens) entry.tokens += result.tokens;
    if (result.outcome === 'ok') {
      entry.successes += 1;
      return undefined;
    }
    entry.errors[result.outcome] = (entry.errors[result.outcome] ?? 0) + 1;
    const change = { key: entry.label, from: entry.state, status: result.status, code: result.code };
    switch (result.outcome) {
      case 'quota':
        if (entry.state === 'exhausted' || entry.state === 'invalid') return undefined;
        entry.state = 'exhausted';
        return { ...change, to: 'exhausted' };
      case 'invalid':
        if (entry.state === 'invalid') return undefined;
        entry.state = 'invalid';
        return { ...change, to: 'invalid' };
      case 'denied':
        if (result.model === undefined || entry.denied.has(result.model)) return undefined;
        entry.denied.add(result.model);
        return { ...change, to: 'denied', model: result.model };
      case 'rate_limit': {
        const wait =
          result.rateLimit?.retryAfterMs ??
          result.rateLimit?.resetRequestsMs ??
          result.rateLimit?.resetTokensMs ??
          DEFAULT_COOLDOWN_MS;
        entry.budget.rateLimited(now, wait);
        if (entry.state !== 'ready' && entry.state !== 'cooling') return undefined;
        const until = Math.max(entry.coolingUntil, now + wait);
        entry.coolingUntil = until;
        const from = entry.state;
        entry.state = 'cooling';
        return from === 'cooling' ? undefined : { ...change, to: 'cooling', until };
      }
      default:
        return undefined;
    }
  }

  status(now: number): KeyStatus[] {
    return this.keys.map((entry) => {
      const status: KeyStatus = {
        key: entry.label,
        state: entry.state === 'cooling' && entry.coolingUntil <= now ? 'ready' : entry.state,
        deniedModels: [...entry.denied],
        requests: entry.requests,
        successes: entry.successes,
        inFlight: entry.inFlight,
        errors: { ...entry.errors },
        tokens: entry.tokens,
      };
      if (entry.config.group !== undefined) status.group = entry.config.group;
      if (status.state === 'cooling') status.coolingUntil = new Date(entry.coolingUntil).toISOString();
      return status;
    });
  }
}
