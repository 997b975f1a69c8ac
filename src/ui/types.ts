/** What the dashboard serves: the summary of a run, pages of its rows, and where both come from. */
import type { KeyStatus } from '../keys/index.js';
import type { KeyStateCounts, ProgressCounts } from '../pipeline/index.js';

/** One point of the chart: events per second over the interval ending at `t`. */
export interface HistoryPoint {
  /** Unix time, seconds. */
  t: number;
  /** Successful requests per second (live run) or items done per second (read from a checkpoint). */
  ok: number;
  /** 429 answers per second (rate limited or out of quota); null when not known (read-only). */
  limited: number | null;
  /** Other error answers per second (live run) or items failed per second (read-only). */
  errors: number;
}

/** The chart's series, column-wise as uPlot takes them. */
export interface History {
  t: number[];
  ok: number[];
  limited: Array<number | null>;
  errors: number[];
}

/**
 * What `GET /api/summary` returns and the event stream pushes. Every field is redacted. The counts
 * are progress's (`ProgressCounts`): a live run's as its snapshots give them (in this run), a run
 * read from its directory's as its checkpoint holds them (`done`, `failed`; `tokens` from the
 * rows' `usage`; `skipped` 0).
 */
export interface DashboardSummary extends ProgressCounts {
  /** `live`: served by the running process; `read-only`: read from a run directory. */
  mode: 'live' | 'read-only';
  /** `running`, `finished` (every item has a record), or `stopped` (ended early; resumable). */
  state: 'running' | 'finished' | 'stopped';
  output: string;
  checkpoint: string;
  /** Items in the input, once known; `null` until then (the field is always there). */
  total: number | null;
  /** USD the answers cost (live: this run's, as progress says; read-only: the checkpoint's rows), null when some model has no price. */
  costUsd: number | null | undefined;
  /** The config file to edit when blocked, if one is watched. */
  configPath: string | undefined;
  /** Per key, redacted (live only; a checkpoint holds no key state). */
  keys: KeyStatus[];
  keyStates: KeyStateCounts;
  /** Failed items by error code, from the checkpoint's records. */
  failures: Record<string, number>;
  history: History;
  /** ISO time of this summary. */
  updatedAt: string;
}

export type RowFilter = 'all' | 'answered' | 'failed' | `code:${string}`;

export interface RowsQuery {
  offset: number;
  limit: number;
  filter: RowFilter;
  /** Case-insensitive text the row's JSON must contain. */
  q: string;
}

export interface RowEntry {
  /** The item's index in the input. */
  i: number;
  /** The error code of a failed item. */
  code?: string;
  /** The row as the output holds it (a prompt row, or `{ error }`), redacted. */
  row: unknown;
}

export interface RowsPage {
  /** Rows matching the filter and search. */
  matched: number;
  offset: number;
  rows: RowEntry[];
  /** `output` (the merged file) or `checkpoint` (lane files of a run not merged yet). */
  from: 'output' | 'checkpoint' | 'none';
}
