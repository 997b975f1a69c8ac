/**
 * 2. Engine overhead. A zero-latency simulator (in a child process), one key, N requests, 32 in
 * flight on both sides, each side run in its own fresh process (`children/overhead-side.mjs`):
 *
 * - keybatch: `runPrompts` (4 lanes × concurrency 8), writing the output .jsonl with its checkpoint.
 * - bare: what a user would write: the openai SDK, p-limit(32), one JSON line appended to a file
 *   (a write stream) per answer.
 * - pool (diagnostic): the bare loop on keybatch's pool-aware client, to tell the key pool's share
 *   of the overhead from the engine's (lanes, checkpoint, rows).
 * - undici (diagnostic): the bare loop with the SDK's fetch swapped for undici's `request`, the
 *   transport keybatch sends with: keybatch against it is the pool's and the engine's cost alone.
 *
 * Each side runs several times, alternating which goes first; the figure is the ratio of the
 * median throughputs. Client CPU per request shows the overhead even when the simulator, not the
 * client, is the bottleneck.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchContext, Benchmark } from './lib/bench.js';
import { runChild } from './lib/child.js';
import { spawnSimulator } from './lib/sim-process.js';
import { median } from './lib/stats.js';
import { mb, num, table, verdict } from './lib/table.js';

/** The key `children/overhead-side.mjs` uses. */
const KEY = 'sk-bench-overhead-key-0001';
const TARGET = 0.95;

type Side = 'keybatch' | 'pool' | 'undici' | 'bare';

const SIDES: readonly Side[] = ['keybatch', 'pool', 'undici', 'bare'];

const LABELS: Record<Side, string> = {
  keybatch: 'keybatch runPrompts (4 lanes × 8, checkpointed)',
  pool: 'bare loop on keybatch createClient(pool) (diagnostic)',
  undici: 'bare loop, SDK fetch = undici request (diagnostic)',
  bare: 'bare SDK + p-limit(32) + JSONL',
};

interface Sample {
  side: Side;
  ms: number;
  cpuMs: number;
  peakRss: number;
}

async function lineCount(path: string): Promise<number> {
  const text = await readFile(path, 'utf8');
  return text.length === 0 ? 0 : text.trimEnd().split('\n').length;
}

export const overhead: Benchmark = {
  name: 'overhead',
  title: '2. Engine overhead',
  async run(ctx: BenchContext): Promise<string> {
    const n = ctx.number('requests', 5000, 1000);
    const rounds = ctx.number('rounds', 5, 2);
    const sim = await spawnSimulator({ keys: [{ key: KEY }], latencyMs: 0 });
    const dir = await mkdtemp(join(tmpdir(), 'keybatch-bench-overhead-'));
    const samples: Sample[] = [];
    let run = 0;
    const once = async (side: Side, size: number): Promise<Sample> => {
      const output = join(dir, `out-${run++}.jsonl`);
      const result = await runChild<Omit<Sample, 'side'>>('children/overhead-side.mjs', [
        side,
        sim.url,
        String(size),
        output,
      ]);
      const lines = await lineCount(output);
      if (lines !== size) throw new Error(`${side}: ${lines} output lines for ${size} requests`);
      return { side, ...result };
    };
    try {
      ctx.log('overhead: warm-up round (not counted: first start-up, simulator JIT)');
      for (const side of SIDES) await once(side, Math.min(n, 1000));
      for (let round = 0; round < rounds; round++) {
        // Every other round in reverse order: keybatch goes first, then last.
        const order = round % 2 === 0 ? SIDES : [...SIDES].reverse();
        for (const side of order) {
          const sample = await once(side, n);
          ctx.log(`overhead: round ${round + 1} ${side}: ${num(n / (sample.ms / 1000))} requests/s`);
          samples.push(sample);
        }
      }
    } finally {
      await sim.close();
      await rm(dir, { recursive: true, force: true });
    }
    const of = (side: Side) => samples.filter((s) => s.side === side);
    const rate = (s: Sample) => n / (s.ms / 1000);
    const row = (side: Side) => {
      const list = of(side);
      return [
        LABELS[side],
        list.map((s) => num(rate(s))).join(', '),
        num(median(list.map(rate))),
        num(median(list.map((s) => (s.cpuMs * 1000) / n))),
        mb(Math.max(...list.map((s) => s.peakRss))),
      ];
    };
    const medianRate = (side: Side) => median(of(side).map(rate));
    const ratio = medianRate('keybatch') / medianRate('bare');
    const cpuRatio = median(of('keybatch').map((s) => s.cpuMs)) / median(of('bare').map((s) => s.cpuMs));
    return [
      `${num(n)} chat requests to a zero-latency simulator (its own process), one key, 32 in flight, ` +
        `each run in a fresh process; ${rounds} rounds alternating the order of the sides, after one uncounted ` +
        'warm-up round of each. Times are from the call to the output file closed (not process start-up).',
      '',
      table(
        ['client', 'requests/s per round', 'median requests/s', 'client CPU µs/request', 'peak RSS'],
        SIDES.map(row),
      ),
      '',
      `keybatch / bare throughput: ${num(ratio, 3)} (target >= ${TARGET}: ${verdict(ratio >= TARGET)}); ` +
        `client CPU keybatch / bare: ${num(cpuRatio, 2)}.`,
      '',
      "On equal transport (undici's request on both sides): keybatch / bare-on-undici " +
        `${num(medianRate('keybatch') / medianRate('undici'), 3)}, the pool-aware client alone ` +
        `${num(medianRate('pool') / medianRate('undici'), 3)}; the transport alone (bare-on-undici / bare): ` +
        `${num(medianRate('undici') / medianRate('bare'), 3)}.`,
    ].join('\n');
  },
};
