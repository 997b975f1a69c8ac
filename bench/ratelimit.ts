/**
 * 1. Rate-limit utilisation over the matrix of issue 24 (bench/lib/ratelimit-rows.ts), over real
 * HTTP: fixed, sliding and token-bucket limiters with OpenAI-style headers at 1 s, 10 s and 60 s
 * windows; no headers with and without `retry-after`; real nginx `limit_req` (no burst, and
 * `burst=10 nodelay`) and real HAProxy in front of the simulator; a continuous-batching server; a
 * server with no limit (4,000 and 100,000 requests). Each row with 1 process and with 4 processes
 * per side (keybatch's 4 sharing one Redis store).
 *
 * Sides, each on its own keys of one simulator (a child process), each process a child of its own
 * (children/ratelimit-side.mjs, the built dist/): keybatch; the bare openai SDK (default retries)
 * under p-limit at the same concurrency; Bottleneck told the true limit (`minTime`, split over the
 * processes; `maxConcurrent` for the batching server). Rows with a limit run the sides at the same
 * time; rows without run one side at a time (they would share the CPU).
 *
 * Figures: utilisation = answers/s after the warm-up window ÷ the keys' true limit (no limit and
 * batching: ÷ the bare loop's answers/s, the whole run counted); refused = 429s and 503s (the
 * simulator's and the limiter's own log) ÷ requests received; lost = requests a client gave up on.
 *
 *   npm run bench -- ratelimit [--rows=fixed-1s,nginx,nolimit] [--processes=1|4|1,4]
 *
 * Row ids: fixed-1s … bucket-60s, none-retry-after, none-bare-429, nginx, nginx-burst, haproxy,
 * batching, nolimit-4k, nolimit-100k; a prefix (`fixed`, `nolimit`) selects all that start with it.
 */
import type { BenchContext, Benchmark } from './lib/bench.js';
import { type RateRow, ROWS, rowSeconds, selectRows } from './lib/ratelimit-rows.js';
import { runRow, type SideName, type SideResult } from './lib/ratelimit-run.js';
import { startRedis } from './lib/redis.js';
import { num, pct, table } from './lib/table.js';

interface Line {
  row: RateRow;
  processes: number;
  results: SideResult[];
}

function sidesOf(row: RateRow): SideName[] {
  return row.bottleneck === 'none' ? ['keybatch', 'bare'] : ['keybatch', 'bare', 'bottleneck'];
}

/** A side's utilisation: of the limit, or of the bare loop's rate. */
function utilisation(line: Line, side: SideResult): number {
  const { row } = line;
  if (row.measure === 'limit') return side.rate / (row.limitPerSecond ?? 1);
  const bare = line.results.find((r) => r.side === 'bare');
  return side.rate / Math.max(1e-9, bare?.rate ?? 0);
}

function verdict(line: Line): string {
  const keybatch = line.results.find((r) => r.side === 'keybatch');
  if (!keybatch) return '';
  const missed: string[] = [];
  const u = utilisation(line, keybatch);
  if (u < line.row.target.utilisation) missed.push(`utilisation < ${line.row.target.utilisation}`);
  if (keybatch.refused > line.row.target.refused) missed.push(`refused > ${pct(line.row.target.refused, 0)}`);
  if (keybatch.lost > 0) missed.push('lost requests');
  return missed.length > 0 ? `MISSED: ${missed.join(', ')}` : 'met';
}

function cells(line: Line, side: SideName): string[] {
  const r = line.results.find((x) => x.side === side);
  if (!r) return ['-', '-'];
  return [
    num(utilisation(line, r), 3),
    `${pct(r.refused, 1)}${r.lost > 0 ? ` (lost ${pct(r.lost, 1)})` : ''}`,
  ];
}

function report(lines: Line[], processes: number[], estimateMin: number): string {
  const rows = lines.map((line) => [
    `${line.row.name} (\`${line.row.id}\`)`,
    String(line.processes),
    ...cells(line, 'keybatch'),
    ...cells(line, 'bare'),
    ...cells(line, 'bottleneck'),
    `>= ${line.row.target.utilisation}, <= ${pct(line.row.target.refused, 0)}`,
    verdict(line),
  ]);
  return [
    `Per row: sides on their own keys of one simulator (child process), ${processes.join(' and ')} process(es) per side ` +
      "(keybatch's 4 share one Redis store). Request-limited rows: 4 keys × 20 req/s, 40 ms latency, 64 in flight " +
      'per side; duration = one window of warm-up (2 s for 1 s windows, nginx, HAProxy) + one window measured (10 s ' +
      'for 1 s windows); utilisation = answers/s after the warm-up ÷ 80 req/s. No limit: 1 key, 5 ms latency, 32 ' +
      'in flight, a fixed count, the first second counted, utilisation ÷ the bare loop. Batching: 1 key, 64 slots, ' +
      '40 ms + 6 ms per running request (peak 151 req/s), keybatch 128 in flight, bare 64 (fills the server). ' +
      `Estimated time of these rows: ${num(estimateMin, 0)} min.`,
    '',
    table(
      [
        'row',
        'processes',
        'keybatch util.',
        'keybatch refused',
        'bare util.',
        'bare refused',
        'bottleneck util.',
        'bottleneck refused',
        'target',
        'keybatch',
      ],
      rows,
    ),
    '',
    'bare = the openai SDK (default retries) under p-limit at the same concurrency (lost = requests it gave up on); ' +
      'bottleneck = the SDK under one Bottleneck per key told the true limit (minTime = 1000 ms × processes ÷ 20).',
  ].join('\n');
}

export const ratelimit: Benchmark = {
  name: 'ratelimit',
  title: '1. Rate-limit utilisation over every limiter (issue 24 matrix)',
  async run(ctx: BenchContext): Promise<string> {
    const rows = selectRows(ctx.text('rows'));
    if (rows.length === 0)
      throw new Error(`--rows=${ctx.text('rows')}: no such row; ids: ${ROWS.map((r) => r.id).join(', ')}`);
    const processes = (ctx.text('processes') ?? '1,4').split(',').map(Number);
    if (processes.some((p) => !(p >= 1 && Number.isInteger(p))))
      throw new Error(`--processes: expected counts like 1,4, got ${ctx.text('processes')}`);
    const estimate =
      (processes.length *
        rows.reduce((sum, row) => sum + rowSeconds(row) * (row.count === undefined ? 1 : 2) + 5, 0)) /
      60;
    ctx.log(
      `ratelimit: ${rows.length} rows × ${processes.join(',')} processes, about ${num(estimate, 0)} min`,
    );
    const redis = processes.some((p) => p > 1) ? await startRedis() : undefined;
    const lines: Line[] = [];
    try {
      for (const p of processes) {
        for (const row of rows) {
          ctx.log(`ratelimit: ${row.name}, ${p} process(es)`);
          const index = lines.length;
          const results = await runRow({ row, index, processes: p, sides: sidesOf(row), redis: redis?.url });
          lines.push({ row, processes: p, results });
        }
      }
    } finally {
      await redis?.close();
    }
    return report(lines, processes, estimate);
  },
};
