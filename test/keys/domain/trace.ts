/**
 * One random trace of a domain store's calls (open, reserve, answer, cancel, pause, unpause) over a fake
 * clock, on 1–3 domains, replayed through two stores at once: every decision and every status is
 * compared after each step, and the first difference is returned, with the step that caused it.
 */

import type { Sample } from '../../../src/keys/domain/law.js';
import type { DomainConfig, DomainStore } from '../../../src/keys/domain/store.js';
import type { PacingStatus } from '../../../src/keys/pacing/controller-types.js';
import { rng } from '../pacing/sim.js';
import { DIALECTS, drawHeaders, logUniform, pick, type Rng, type TraceDialect } from './headers.js';

export type Action =
  | { kind: 'open'; domain: string; config: DomainConfig }
  | { kind: 'reserve'; domain: string; tokens: number }
  | { kind: 'answer'; domain: string; sample: Sample }
  | { kind: 'cancel'; domain: string; seq: number }
  | { kind: 'pause'; domain: string; ms: number }
  | { kind: 'unpause'; domain: string };

export interface TraceCounts {
  steps: number;
  seq: number;
  wait: number;
  full: number;
  served: number;
  refused: number;
  error: number;
}

export interface Mismatch {
  step: number;
  now: number;
  action: Action;
  what: string;
  expected: unknown;
  got: unknown;
}

/**
 * A ticket this old is answered before the clock moves on, and the clock moves at most
 * MAX_TICK_MS at a time: no ticket reaches the Redis store's lifetime of a ticket (20 min), past
 * which it drops a dead process's tickets, which the in-memory store never needs to.
 */
const OLD_TICKET_MS = 300_000;
const MAX_TICK_MS = 130_000;
/** Floats agree to this, relatively (a C `pow` and V8's `**` may differ in the last bit). */
const RELATIVE = 1e-9;

const START = Date.UTC(2026, 11, 7, 12, 0, 0);
/** Refused (429, 503) and failed (500, 503): each domain draws how often its answers are one. */
const FAILURES = [429, 429, 429, 503, 503, 500] as const;

interface Domain {
  name: string;
  dialect: TraceDialect;
  /** Typical latency and the tokens a request costs. */
  latencyMs: number;
  tokens: number;
  /** How often an answer comes when one could (few: the in-flight bound fills) and is a failure. */
  answerShare: number;
  failShare: number;
  /** Requests reserved and not yet answered: seq and send time. */
  inFlight: Array<{ seq: number; sentAt: number }>;
  lastWait: number;
}

function close(a: number, b: number): boolean {
  if (a === b) return true;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  return Math.abs(a - b) <= RELATIVE * Math.max(Math.abs(a), Math.abs(b));
}

/** Where two values first differ (`''`: here, `.a.b`: below), numbers to RELATIVE; undefined if nowhere. */
export function differ(a: unknown, b: unknown): string | undefined {
  if (a === b) return undefined;
  if (typeof a === 'number' && typeof b === 'number') return close(a, b) ? undefined : '';
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return '';
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  for (const key in x) {
    const below = differ(x[key], y[key]);
    if (below !== undefined) return `.${key}${below}`;
  }
  for (const key in y) if (!(key in x)) return `.${key}`;
  return undefined;
}

/** A status with its instant as a delay from now (compared relatively, an instant could not be). */
function comparable(status: PacingStatus, now: number): unknown {
  const { blockedUntil, ...rest } = status;
  return blockedUntil === undefined ? rest : { ...rest, blockedFor: blockedUntil - now };
}

function configOf(r: Rng): DomainConfig {
  const config: DomainConfig = {};
  if (r() < 0.3) config.rpm = Math.floor(logUniform(r, 1, 100_000));
  if (r() < 0.3) config.tpm = Math.floor(logUniform(r, 1000, 10_000_000));
  return config;
}

function drawSample(r: Rng, d: Domain, now: number): Sample {
  const index = Math.floor(r() * d.inFlight.length);
  const known = d.inFlight.length > 0;
  const ticket = known ? d.inFlight.splice(index, 1)[0]! : { seq: 1 + Math.floor(r() * 500), sentAt: now };
  const status = r() < d.failShare ? pick(r, FAILURES) : r() < 0.9 ? 200 : 201;
  const dialect = r() < 0.9 ? d.dialect : pick(r, DIALECTS);
  const elapsed = now - ticket.sentAt;
  // A latency that is not a number, on answers that are not refusals (law.ts's cut takes a refusal's
  // latency as its round trip without checking it is finite).
  const unknown = r() < 0.05 && status !== 429 && status !== 503;
  const latencyMs = unknown
    ? Number.NaN
    : elapsed > 0 && r() < 0.7
      ? elapsed
      : d.latencyMs * logUniform(r, 0.3, 5);
  return { seq: ticket.seq, status, latencyMs, headers: drawHeaders(r, dialect, status, now) };
}

/** The clock moves: a little, or to when the last wait said to ask again (a hair after). */
function advance(r: Rng, d: Domain): number {
  const wait = d.lastWait;
  d.lastWait = 0;
  if (Number.isFinite(wait) && wait > 0 && wait < MAX_TICK_MS && r() < 0.7) return wait + r();
  return logUniform(r, 0.01, 2000);
}

export class Trace {
  readonly counts: TraceCounts = { steps: 0, seq: 0, wait: 0, full: 0, served: 0, refused: 0, error: 0 };
  private readonly r: Rng;
  private readonly domains: Domain[];
  private now: number;
  private readonly touched = new Set<string>();
  /** Which of the actual stores (processes) makes each call, and which made a domain's last one. */
  private readonly actor: Rng;
  private readonly lastActor = new Map<string, DomainStore>();

  /**
   * `actual`: one store, or several that share their state (processes on one Redis): each call goes
   * to one of them, and a domain's status is read from the one that made its last call (a store
   * shows what it last saw).
   */
  constructor(
    readonly seed: number,
    prefix: string,
    private readonly expected: DomainStore,
    private readonly actual: DomainStore | readonly DomainStore[],
  ) {
    this.r = rng(seed);
    this.actor = rng(seed ^ 0x5bd1e995);
    this.now = START + Math.floor(this.r() * 86_400_000);
    const count = 1 + Math.floor(this.r() * 3);
    this.domains = Array.from({ length: count }, (_, i) => ({
      name: `${prefix}-d${i}`,
      dialect: pick(this.r, DIALECTS),
      latencyMs: logUniform(this.r, 10, 10_000),
      tokens: Math.floor(logUniform(this.r, 1, 20_000)),
      answerShare: pick(this.r, [0.1, 0.3, 0.5]),
      failShare: pick(this.r, [0, 0.03, 0.15, 0.4]),
      inFlight: [],
      lastWait: 0,
    }));
  }

  /** Runs `steps` steps; the first difference, or undefined when none. */
  async run(steps: number): Promise<Mismatch | undefined> {
    for (const d of this.domains) {
      if (this.r() < 0.8) {
        const found = await this.step({ kind: 'open', domain: d.name, config: configOf(this.r) });
        if (found) return found;
      }
    }
    for (let i = 0; i < steps; i++) {
      const found = await this.step(this.next());
      if (found) return found;
    }
    return undefined;
  }

  /**
   * The next action: mostly reserve (often once the last wait is over) and answer what is in
   * flight; sometimes cancel, pause, unpause, reopen, an answer of a request the store does not know, or
   * time passes.
   */
  private next(): Action {
    const r = this.r;
    const old = this.oldTicket();
    if (old) return old;
    const d = pick(r, this.domains);
    const x = r();
    if (x < 0.1) {
      this.tick(d);
      return this.next();
    }
    if (x < 0.85 && d.inFlight.length > 0 && r() < d.answerShare)
      return { kind: 'answer', domain: d.name, sample: drawSample(r, d, this.now) };
    if (x < 0.85) {
      if (d.lastWait > 0) this.tick(d);
      return { kind: 'reserve', domain: d.name, tokens: Math.ceil(d.tokens * logUniform(r, 0.1, 3)) };
    }
    if (x < 0.9) return { kind: 'answer', domain: d.name, sample: drawSample(r, d, this.now) };
    if (x < 0.95) {
      const index = Math.floor(r() * d.inFlight.length);
      const ticket =
        d.inFlight.length > 0 ? d.inFlight.splice(index, 1)[0]! : { seq: 1 + Math.floor(r() * 50) };
      return { kind: 'cancel', domain: d.name, seq: ticket.seq };
    }
    if (x < 0.97) return { kind: 'pause', domain: d.name, ms: Math.floor(logUniform(r, 1, 60_000)) };
    if (x < 0.985) return { kind: 'unpause', domain: d.name };
    return { kind: 'open', domain: d.name, config: configOf(r) };
  }

  /** The answer of a ticket grown old (see OLD_TICKET_MS), if there is one. */
  private oldTicket(): Action | undefined {
    for (const d of this.domains) {
      const index = d.inFlight.findIndex((t) => t.sentAt < this.now - OLD_TICKET_MS);
      if (index < 0) continue;
      const { seq, sentAt } = d.inFlight.splice(index, 1)[0]!;
      return {
        kind: 'answer',
        domain: d.name,
        sample: { seq, status: 200, latencyMs: this.now - sentAt, headers: undefined },
      };
    }
    return undefined;
  }

  /** Time passes. */
  private tick(d: Domain): void {
    this.now += Math.min(MAX_TICK_MS, advance(this.r, d));
  }

  private async step(action: Action): Promise<Mismatch | undefined> {
    this.counts.steps += 1;
    const now = this.now;
    const fail = (what: string, expected: unknown, got: unknown): Mismatch => ({
      step: this.counts.steps,
      now,
      action,
      what,
      expected,
      got,
    });
    const expected = await apply(this.expected, action, now);
    const stores = Array.isArray(this.actual) ? this.actual : [this.actual as DomainStore];
    const store = pick(this.actor, stores);
    const got = await apply(store, action, now);
    const where = differ(expected, got);
    if (where !== undefined) return fail(`the decision (${where || 'value'})`, expected, got);
    this.record(action, expected);
    // (Only domains opened before: MemoryStore.status opens a domain it has not seen, at that time
    // and without its config, which a later call would then not change; a cancel opens nothing.)
    if (action.kind !== 'cancel') this.touched.add(action.domain);
    if (this.touched.has(action.domain)) this.lastActor.set(action.domain, store);
    for (const d of this.domains.filter((x) => this.touched.has(x.name))) {
      const want = comparable(this.expected.status(d.name, now), now);
      const have = comparable((this.lastActor.get(d.name) ?? store).status(d.name, now), now);
      const field = differ(want, have);
      if (field !== undefined) return fail(`status of ${d.name} (${field})`, want, have);
    }
    return undefined;
  }

  private record(action: Action, result: unknown): void {
    const d = this.domains.find((x) => x.name === action.domain)!;
    if (action.kind === 'reserve') {
      const reservation = result as { seq?: number; waitMs?: number };
      if (reservation.seq !== undefined) {
        this.counts.seq += 1;
        d.inFlight.push({ seq: reservation.seq, sentAt: this.now });
      } else if (reservation.waitMs === Number.POSITIVE_INFINITY) this.counts.full += 1;
      else this.counts.wait += 1;
      d.lastWait = reservation.waitMs ?? 0;
    } else if (action.kind === 'answer') this.counts[result as 'served' | 'refused' | 'error'] += 1;
  }
}

async function apply(store: DomainStore, action: Action, now: number): Promise<unknown> {
  switch (action.kind) {
    case 'open':
      return store.open(action.domain, now, action.config);
    case 'reserve':
      return store.reserve(action.domain, now, action.tokens);
    case 'answer':
      return store.answer(action.domain, now, action.sample);
    case 'cancel':
      return store.cancel(action.domain, action.seq);
    case 'pause':
      return store.pause(action.domain, now, action.ms);
    case 'unpause':
      return store.unpause(action.domain, now);
  }
}
