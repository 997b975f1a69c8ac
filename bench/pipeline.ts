/**
 * 3. Pipeline throughput and memory. A generated .jsonl (1M items, and 100k to show memory does
 * not grow with the input), a trivial function, file to file with checkpointing on: runPipeline
 * on in-process lanes and on worker threads, against plain read-transform-write loops over the
 * same file (the floor). Each variant runs alone in its own process, which reports its peak RSS
 * (`process.resourceUsage().maxRSS`, worker threads included).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchContext, Benchmark } from './lib/bench.js';
import { runChild } from './lib/child.js';
import { countLines, writeItems } from './lib/input.js';
import { median } from './lib/stats.js';
import { mb, num, table, verdict } from './lib/table.js';

const SPEED_TARGET = 0.5;
const RSS_TARGET = 300 * 1024 * 1024;

interface VariantResult {
  items: number;
  ms: number;
  peakRss: number;
}

interface Variant {
  label: string;
  args: string[];
  keybatch: boolean;
}

export const pipeline: Benchmark = {
  name: 'pipeline',
  title: '3. Pipeline throughput and memory',
  async run(ctx: BenchContext): Promise<string> {
    const big = ctx.number('items', 1_000_000, 100_000);
    const small = ctx.number('small', 100_000, 10_000);
    const repeats = ctx.number('repeats', 5, 1);
    const chunk = String(ctx.number('chunk', 1000, 1000));
    const variants: Variant[] = [
      {
        label: 'plain loop: manual splitter + JSON.parse/stringify + write stream (floor)',
        args: ['plain'],
        keybatch: false,
      },
      { label: 'plain loop: readline + write per line', args: ['readline'], keybatch: false },
      {
        label: `runPipeline, in-process lanes (4 lanes, chunkSize ${chunk})`,
        args: ['lanes', chunk, '4'],
        keybatch: true,
      },
      {
        label: `runPipeline, worker threads (2 threads, chunkSize ${chunk})`,
        args: ['threads', chunk, '2'],
        keybatch: true,
      },
      {
        label: 'runPipeline, worker threads (2 threads, chunkSize 100: 10× the chunks)',
        args: ['threads', '100', '2'],
        keybatch: true,
      },
      {
        label: 'runPipeline, in-process lanes (defaults: 4 lanes, chunkSize 10)',
        args: ['lanes', '10', '4'],
        keybatch: true,
      },
    ];
    const dir = await mkdtemp(join(tmpdir(), 'keybatch-bench-pipeline-'));
    const sections: string[] = [];
    let floorRate = 0;
    const verdicts: string[] = [];
    try {
      for (const size of [big, small]) {
        const input = join(dir, `in-${size}.jsonl`);
        ctx.log(`pipeline: writing ${num(size)} items`);
        await writeItems(input, size);
        const rows: string[][] = [];
        for (const variant of variants) {
          const runs: VariantResult[] = [];
          // Repeats only for the big input; variants run one after another, never at once.
          for (let r = 0; r < (size === big ? repeats : 1); r++) {
            const output = join(dir, `out-${size}-${variant.args.join('-')}.jsonl`);
            await rm(`${output}.keybatch`, { recursive: true, force: true });
            const result = await runChild<VariantResult>('children/pipeline-variant.mjs', [
              variant.args[0]!,
              input,
              output,
              ...variant.args.slice(1),
            ]);
            const lines = await countLines(output);
            if (result.items !== size || lines !== size) {
              throw new Error(
                `${variant.label}: ${result.items} items, ${lines} output lines for ${size} input items`,
              );
            }
            await rm(output, { force: true });
            await rm(`${output}.keybatch`, { recursive: true, force: true });
            ctx.log(
              `pipeline: ${num(size)} ${variant.args.join(' ')}: ${num(size / (result.ms / 1000))} items/s, ${mb(result.peakRss)}`,
            );
            runs.push(result);
          }
          const rate = median(runs.map((r) => size / (r.ms / 1000)));
          const rss = Math.max(...runs.map((r) => r.peakRss));
          const rssMedian = median(runs.map((r) => r.peakRss));
          if (variant.args[0] === 'plain') floorRate = rate;
          rows.push([
            variant.label,
            num(rate),
            num(rate / floorRate, 2),
            runs.length > 1 ? `${mb(rssMedian)} (${mb(rss)})` : mb(rss),
          ]);
          if (variant.keybatch && variant.args[1] === chunk) {
            const speed = rate / floorRate;
            verdicts.push(
              `${num(size)} items, ${variant.args[0]}: ${num(speed, 2)} of the floor (target >= ${SPEED_TARGET}: ${verdict(speed >= SPEED_TARGET)}), ` +
                `highest peak RSS ${mb(rss)} (target <= ${mb(RSS_TARGET)}: ${verdict(rss <= RSS_TARGET)}` +
                `${runs.length > 1 ? `; ${runs.filter((r) => r.peakRss <= RSS_TARGET).length} of ${runs.length} runs under it` : ''})`,
            );
          }
        }
        sections.push(
          `**${num(size)} items** (${size === big ? `median of ${repeats} runs; peak RSS: median (highest)` : '1 run'}):\n\n` +
            table(['variant', 'items/s', '÷ floor', 'peak RSS'], rows),
        );
        await rm(input, { force: true });
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    return [
      'Input `{"id":i,"text":"<4–15 words>"}` (~80 bytes/line), function `x => ({ id: x.id, n: x.text.length })`, ' +
        'output file + checkpoint (run directory) for keybatch, each variant alone in its own process. ' +
        'Times include everything from the call to the merged output (input pre-pass, checkpoint, ordered merge).',
      '',
      ...sections.flatMap((s) => [s, '']),
      ...verdicts.map((v) => `- ${v}`),
    ].join('\n');
  },
};
