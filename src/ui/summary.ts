/**
 * The dashboard's summary of a run, kept up to date from what the progress display already gets:
 * `Progress` snapshots (src/pipeline/progress.ts) with `pool.status()` for a live run, or the same
 * snapshots made from `readRunStatus` for a run read from its checkpoint.
 */
import { EventEmitter } from 'node:events';
import type { PoolStatus } from '../keys/index.js';
import type { Progress } from '../pipeline/index.js';
import type { DashboardSummary, History, HistoryPoint } from './types.js';

/** Points kept for the chart: 30 minutes at one a second. */
export const HISTORY_POINTS = 1800;
/** Least time between two chart points. */
const POINT_MS = 900;

/** Running totals a chart point is the difference of. */
export interface Totals {
  at: number;
  ok: number;
  limited: number | null;
  errors: number;
}

/** Totals from a pool's keys: successes, 429s (rate limit and quota), every other error answer. */
export function poolTotals(pool: PoolStatus, at: number): Totals {
  let ok = 0;
  let limited = 0;
  let errors = 0;
  for (const key of pool.keys) {
    ok += key.successes;
    for (const [outcome, count] of Object.entries(key.errors)) {
      if (outcome === 'rate_limit' || outcome === 'quota') limited += count ?? 0;
      else errors += count ?? 0;
    }
  }
  return { at, ok, limited, errors };
}

/** Totals from item counts, when no key is known (a checkpoint read by another process). */
export function itemTotals(progress: Pick<Progress, 'done' | 'failed'>, at: number): Totals {
  return { at, ok: progress.done, limited: null, errors: progress.failed };
}

/** The rates between two totals, or undefined when they are too close in time. */
export function historyPoint(previous: Totals, next: Totals): HistoryPoint | undefined {
  const seconds = (next.at - previous.at) / 1000;
  if (seconds * 1000 < POINT_MS) return undefined;
  const per = (a: number, b: number) => Math.max(0, (b - a) / seconds);
  return {
    t: next.at / 1000,
    ok: per(previous.ok, next.ok),
    limited: previous.limited === null || next.limited === null ? null : per(previous.limited, next.limited),
    errors: per(previous.errors, next.errors),
  };
}

function pushPoint(history: History, point: HistoryPoint): void {
  history.t.push(point.t);
  history.ok.push(point.ok);
  history.limited.push(point.limited);
  history.errors.push(point.errors);
  if (history.t.length > HISTORY_POINTS) {
    for (const series of Object.values(history)) series.shift();
  }
}

export interface TrackerInit {
  mode: DashboardSummary['mode'];
  output: string;
  checkpoint: string;
  configPath: string | undefined;
}

/** Emits `change` with the new summary after every update. */
export class SummaryTracker extends EventEmitter<{ change: [DashboardSummary] }> {
  private current: DashboardSummary;
  private last: Totals | undefined;
  /** The chart is a finished run's own history: no more points. */
  private frozen = false;

  constructor(init: TrackerInit) {
    super();
    this.current = {
      ...init,
      state: 'running',
      total: null,
      done: 0,
      failed: 0,
      skipped: 0,
      inFlight: 0,
      rate: 0,
      etaMs: undefined,
      tokens: 0,
      costUsd: undefined,
      elapsedMs: 0,
      blocked: false,
      keys: [],
      keyStates: { ready: 0, cooling: 0, exhausted: 0, invalid: 0 },
      failures: {},
      history: { t: [], ok: [], limited: [], errors: [] },
      updatedAt: new Date().toISOString(),
    };
  }

  get summary(): DashboardSummary {
    return this.current;
  }

  /**
   * A new snapshot. `pool` is the live pool's status (its keys and the chart's request counts);
   * without it the chart counts items, and `tokens` is what the rows' usage says.
   */
  update(progress: Progress, pool?: PoolStatus, tokens?: number, costUsd?: number | null): void {
    const now = Date.now();
    const totals = pool ? poolTotals(pool, now) : itemTotals(progress, now);
    if (!this.last) this.last = totals;
    const point = this.frozen ? undefined : historyPoint(this.last, totals);
    if (point) {
      pushPoint(this.current.history, point);
      this.last = totals;
    }
    const configPath = pool?.configPath ?? this.current.configPath;
    this.current = {
      ...this.current,
      total: progress.total ?? null,
      done: progress.done,
      failed: progress.failed,
      skipped: progress.skipped,
      inFlight: progress.inFlight,
      rate: progress.rate,
      etaMs: progress.blocked ? undefined : progress.etaMs,
      tokens: tokens ?? progress.tokens,
      costUsd:
        costUsd !== undefined
          ? costUsd
          : progress.spentUsd !== undefined
            ? progress.spentUsd
            : this.current.costUsd,
      elapsedMs: progress.elapsedMs,
      blocked: progress.blocked,
      configPath,
      keys: pool ? pool.keys : this.current.keys,
      keyStates: progress.keys,
      updatedAt: new Date(now).toISOString(),
    };
    this.emit('change', this.current);
  }

  /**
   * The chart's points from before this tracker (a run read from its directory); with `final`
   * (the run is finished) nothing more is added, so the chart stays the run's own.
   */
  seedHistory(points: readonly HistoryPoint[], final: boolean): void {
    for (const point of points) pushPoint(this.current.history, point);
    this.frozen = final && points.length > 0;
    this.emit('change', this.current);
  }

  /** Failed items by code, read from the checkpoint. */
  setFailures(failures: Record<string, number>): void {
    if (JSON.stringify(failures) === JSON.stringify(this.current.failures)) return;
    this.current = { ...this.current, failures };
    this.emit('change', this.current);
  }

  /** The run ended: `finished` (every item has a record) or `stopped` (resumable). */
  end(state: 'running' | 'finished' | 'stopped'): void {
    if (state === this.current.state) return;
    this.current = { ...this.current, state, inFlight: state === 'running' ? this.current.inFlight : 0 };
    this.emit('change', this.current);
  }
}
