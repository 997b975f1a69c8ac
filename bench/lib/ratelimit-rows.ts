/**
 * The rows of the rate-limit benchmark (issue 24): what each row puts between the clients and the
 * simulator, the true limit a side's keys have, how long it runs, and the target keybatch must meet.
 *
 * Durations are sized to the window: one window of warm-up (a fresh window or a full bucket lets a
 * burst through that says nothing about pacing) and then `MEASURED_WINDOWS` windows measured;
 * windows of a second or less (and nginx, HAProxy) get `SHORT_WARMUP_S` + `SHORT_MEASURED_S`.
 * Rows without a rate limit run a fixed number of requests, the first second counted.
 */
import type { SimKeySpec } from '../../src/index.js';

/** Measured windows after the warm-up window (60 s windows: 2 minutes a row). */
const MEASURED_WINDOWS = 1;
/** For 1 s windows, nginx and HAProxy: a few seconds of warm-up, then ten windows. */
const SHORT_WARMUP_S = 2;
const SHORT_MEASURED_S = 10;
/** Per key, as in the runs. */
export const PER_KEY_PER_SECOND = 20;

export type Proxy = 'nginx' | 'nginx-burst' | 'haproxy';

export interface Target {
  /** Utilisation at least (of the limit; of the bare loop for `relative` rows). */
  readonly utilisation: number;
  /** Refused (429 and 503) share at most. */
  readonly refused: number;
}

export interface RateRow {
  /** What `--rows=` selects it by: `fixed-1s`, `nginx-burst`, `nolimit-4k`, … */
  readonly id: string;
  readonly name: string;
  /** `limit`: answers/s ÷ the keys' true limit; `relative`: ÷ the bare loop's answers/s. */
  readonly measure: 'limit' | 'relative';
  readonly keys: number;
  /** The simulator spec of each key (without the key). */
  readonly spec: Omit<SimKeySpec, 'key'>;
  /** A real limiter process in front of the simulator. */
  readonly proxy?: Proxy;
  /** Answers per second the keys together allow (`limit` rows). */
  readonly limitPerSecond?: number;
  /** Duration rows: warm-up and measured seconds. */
  readonly warmupS?: number;
  readonly measuredS?: number;
  /** Count rows: requests in all (the first second counts). */
  readonly count?: number;
  /** Requests in flight per side (split over the processes). */
  readonly lanes: number;
  /** Lanes of the bare baseline (the concurrency that fills a slot-bound server); default `lanes`. */
  readonly bareLanes?: number;
  /** Bottleneck's `maxConcurrent` per key (slot-bound rows), or no Bottleneck side at all. */
  readonly bottleneck: 'minTime' | { maxConcurrent: number } | 'none';
  readonly latencyMs: number;
  readonly target: Target;
}

/** Headers rows: >= 0.95 with <= 1% refused; no headers, nginx, HAProxy: >= 0.9 with <= 2%. */
const WITH_HEADERS: Target = { utilisation: 0.95, refused: 0.01 };
const WITHOUT_HEADERS: Target = { utilisation: 0.9, refused: 0.02 };
/** No limit and continuous batching: >= 0.95 of the bare loop, <= 1% 503s. */
const RELATIVE: Target = { utilisation: 0.95, refused: 0.01 };

const KEYS = 4;
/** The runs: `--workers 2 --concurrency 64`. */
const LANES = 64;
const LATENCY_MS = 40;

function windowed(kind: 'fixed' | 'sliding' | 'bucket', windowS: number): RateRow {
  const short = windowS <= 1;
  return {
    id: `${kind}-${windowS}s`,
    name: `${kind} ${windowS} s, openai headers`,
    measure: 'limit',
    keys: KEYS,
    spec: {
      requestsPerWindow: PER_KEY_PER_SECOND * windowS,
      windowMs: windowS * 1000,
      limiter: { kind },
      headers: { dialect: 'openai' },
    },
    limitPerSecond: KEYS * PER_KEY_PER_SECOND,
    warmupS: short ? SHORT_WARMUP_S : windowS,
    measuredS: short ? SHORT_MEASURED_S : windowS * MEASURED_WINDOWS,
    lanes: LANES,
    bottleneck: 'minTime',
    latencyMs: LATENCY_MS,
    target: WITH_HEADERS,
  };
}

function noHeaders(id: string, name: string, headers: NonNullable<SimKeySpec['headers']>): RateRow {
  return {
    id,
    name,
    measure: 'limit',
    keys: KEYS,
    spec: { requestsPerWindow: PER_KEY_PER_SECOND, windowMs: 1000, limiter: { kind: 'sliding' }, headers },
    limitPerSecond: KEYS * PER_KEY_PER_SECOND,
    warmupS: SHORT_WARMUP_S,
    measuredS: SHORT_MEASURED_S,
    lanes: LANES,
    bottleneck: 'minTime',
    latencyMs: LATENCY_MS,
    target: WITHOUT_HEADERS,
  };
}

function proxied(name: string, proxy: Proxy): RateRow {
  return {
    id: proxy,
    name,
    measure: 'limit',
    keys: KEYS,
    // No limit in the simulator: the proxy limits.
    spec: {},
    proxy,
    limitPerSecond: KEYS * PER_KEY_PER_SECOND,
    warmupS: SHORT_WARMUP_S,
    measuredS: SHORT_MEASURED_S,
    lanes: LANES,
    bottleneck: 'minTime',
    latencyMs: LATENCY_MS,
    target: WITHOUT_HEADERS,
  };
}

function noLimit(count: number): RateRow {
  return {
    id: `nolimit-${count / 1000}k`,
    name: `no limit, ${count.toLocaleString('en-US')} requests`,
    measure: 'relative',
    keys: 1,
    spec: {},
    count,
    // The run: concurrency 32.
    lanes: 32,
    bottleneck: 'none',
    // A local server answers fast: the client's own cost shows.
    latencyMs: 5,
    target: RELATIVE,
  };
}

/**
 * vLLM-like: 64 slots, 40 ms + 6 ms per running request, so a full batch answers in 424 ms and
 * peaks at 64 × 1000 / 424 = 151 req/s (the server peaked at 150). keybatch runs 128 in
 * flight as in the issue; the bare loop runs 64, the concurrency that fills the server.
 */
const BATCHING: RateRow = {
  id: 'batching',
  name: 'continuous batching (64 slots)',
  measure: 'relative',
  keys: 1,
  spec: { limiter: { kind: 'batching', slots: 64, queue: 512, baseMs: 40, perRunningMs: 6 } },
  warmupS: SHORT_WARMUP_S,
  measuredS: SHORT_MEASURED_S,
  lanes: 128,
  bareLanes: 64,
  bottleneck: { maxConcurrent: 64 },
  latencyMs: 0,
  target: RELATIVE,
};

export const ROWS: readonly RateRow[] = [
  ...(['fixed', 'sliding', 'bucket'] as const).flatMap((kind) => [1, 10, 60].map((w) => windowed(kind, w))),
  noHeaders('none-retry-after', 'no headers, 429 + retry-after-ms, sliding 1 s', {
    dialect: 'none',
    retryAfter: 'ms',
  }),
  noHeaders('none-bare-429', 'no headers, bare 429s, sliding 1 s', {
    dialect: 'none',
    retryAfter: 'none',
    bare429: true,
  }),
  proxied('nginx limit_req 20 r/s, no burst', 'nginx'),
  proxied('nginx limit_req 20 r/s, burst=10 nodelay', 'nginx-burst'),
  proxied('HAProxy http_req_rate(1s) > 20', 'haproxy'),
  BATCHING,
  noLimit(4000),
  noLimit(100_000),
];

/**
 * The rows a comma-separated filter names: an id (`nginx`), or an id's start (`fixed` for the
 * three fixed rows, `nolimit`); every row without a filter.
 */
export function selectRows(filter: string | undefined): RateRow[] {
  if (!filter) return [...ROWS];
  const parts = filter.toLowerCase().split(',').filter(Boolean);
  return ROWS.filter((row) =>
    parts.some((part) => row.id === part || (row.id.startsWith(part) && !ROWS.some((r) => r.id === part))),
  );
}

/** Seconds a row runs per side (count rows: an estimate at `perSecond` answers/s). */
export function rowSeconds(row: RateRow, perSecond = 1500): number {
  if (row.count !== undefined) return row.count / perSecond;
  return (row.warmupS ?? 0) + (row.measuredS ?? 0);
}
