/**
 * 8. Row identity and the response cache.
 * - Throughput: runPrompts at zero latency over R distinct rows, with a cache already holding N
 *   other answers (every row a miss: a lookup and a put each) against no cache; median of 3 each,
 *   alternated. Target: with / without >= 0.9.
 * - Resume: a content-keyed run (runPipeline `itemKey`, the machinery runPrompts uses) of M items,
 *   complete, then M + 1000 items: time from the call to the first new item. Plus what runPrompts
 *   adds before it: reading and identifying M prompt records (preparePrompts + sha256 per row).
 *   Target: <= 2 s.
 * - Memory: RSS of a process that filled a store with N and N10 entries through the cache API and
 *   read 100,000 random ones back.
 * Sizes: --rows (R), --entries (N), --resume-items (M), --big-entries (N10).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReadGuard } from '../src/files/read-guard.js';
import type { BenchContext, Benchmark } from './lib/bench.js';
import { median } from './lib/stats.js';
import { ms, num, table } from './lib/table.js';

const THROUGHPUT_TARGET = 0.9;
const RESUME_TARGET_MS = 2000;
/** Random reads after filling: enough to touch pages all over the store. */
const READS = 100_000;

const lib = () => import('../src/index.js');

const silent = { debug() {}, info() {}, warn() {}, error() {} };

async function fill(dir: string, entries: number): Promise<void> {
  const { ResponseCache } = await lib();
  const { createHash } = await import('node:crypto');
  const cache = await ResponseCache.open(dir);
  const answer = {
    id: 'chatcmpl-x',
    object: 'chat.completion',
    model: 'gpt-4o-mini',
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: 'echo: a cached answer of typical length for a benchmark row',
        },
        finish_reason: 'stop',
      },
    ],
    usage: { prompt_tokens: 12, completion_tokens: 14, total_tokens: 26 },
  };
  const idOf = (k: number) => createHash('sha256').update(`entry ${k}`).digest('hex');
  const batch = 10_000;
  for (let from = 0; from < entries; from += batch) {
    const puts: Promise<boolean>[] = [];
    for (let k = from; k < Math.min(entries, from + batch); k++) puts.push(cache.put(idOf(k), answer));
    await Promise.all(puts);
  }
  for (let r = 0; r < READS; r++) cache.get(idOf(Math.floor(Math.random() * entries)));
  await cache.close();
}

async function throughput(ctx: BenchContext, root: string): Promise<{ without: number; with: number }> {
  const { runPrompts, startSimulator } = await lib();
  const rows = ctx.number('rows', 20_000, 2_000);
  const entries = ctx.number('entries', 1_000_000, 50_000);
  const cacheDir = join(root, 'cache');
  ctx.log(`cache: filling ${entries} entries`);
  await fill(cacheDir, entries);
  const sim = await startSimulator({ keys: [{ key: 'sk-bench-cache-0001' }], latencyMs: 0 });
  const config = { key_list: [{ api_key: 'sk-bench-cache-0001', base_url: sim.url }] };
  const rates: { without: number[]; with: number[] } = { without: [], with: [] };
  try {
    for (let trial = 0; trial < 3; trial++) {
      for (const mode of ['without', 'with'] as const) {
        const records = Array.from({ length: rows }, (_, k) => ({ prompt: `bench ${mode} ${trial} ${k}` }));
        const started = Date.now();
        await runPrompts(config, records, {
          output: join(root, `${mode}-${trial}.jsonl`),
          model: 'gpt-4o-mini',
          handleSignals: false,
          logger: silent,
          pool: { watch: false, notify: false },
          ...(mode === 'with' ? { cache: cacheDir } : {}),
        });
        rates[mode].push(rows / ((Date.now() - started) / 1000));
        ctx.log(`cache: ${mode} cache, trial ${trial + 1}: ${num(rates[mode].at(-1)!)} rows/s`);
      }
    }
  } finally {
    await sim.close();
  }
  return { without: median(rates.without), with: median(rates.with) };
}

async function resume(
  ctx: BenchContext,
  root: string,
): Promise<{ items: number; firstNewMs: number; identifyMs: number }> {
  const { runPipeline } = await lib();
  const { preparePrompts } = await import('../src/prompts/input.js');
  const { jobIdentity } = await import('../src/prompts/row-keys.js');
  const items = ctx.number('resume-items', 1_000_000, 100_000);
  const input = join(root, 'resume.jsonl');
  const line = (k: number) => `${JSON.stringify({ prompt: `resume question ${k}` })}\n`;
  const write = (n: number) => writeFile(input, Array.from({ length: n }, (_, k) => line(k)).join(''));
  const config = { key_list: [{ api_key: 'sk-bench-cache-0002', base_url: 'http://127.0.0.1:9/v1' }] };
  const options = {
    output: join(root, 'resume-out.jsonl'),
    itemKey: (item: { prompt: string }) => item.prompt,
    chunkSize: 100,
    handleSignals: false,
    logger: silent,
    pool: { watch: false, notify: false },
  };
  await write(items);
  ctx.log(`cache: keyed run of ${items} items`);
  await runPipeline(config, input, (chunk: Array<{ prompt: string }>) => chunk.map(() => 1), options);
  await write(items + 1000);
  const called = Date.now();
  let first = 0;
  await runPipeline(
    config,
    input,
    (chunk: Array<{ prompt: string }>) => {
      first ||= Date.now();
      return chunk.map(() => 1);
    },
    options,
  );
  const identifyStart = Date.now();
  const prepared = await preparePrompts(input, { endpoint: 'chat', system: undefined, hasModel: true });
  const settings = {
    namespace: 'bench',
    model: 'gpt-4o-mini',
    params: {},
    guard: new ReadGuard({ baseDir: root }),
  };
  for await (const job of prepared.data as AsyncIterable<Parameters<typeof jobIdentity>[0]>)
    jobIdentity(job, settings);
  return { items, firstNewMs: first - called, identifyMs: Date.now() - identifyStart };
}

/** RSS (MiB) of a child process that fills a store of `entries` and reads it back. */
async function rssOf(entries: number, dir: string): Promise<number> {
  const { spawnSync } = await import('node:child_process');
  const script = `const { fill } = await import(${JSON.stringify(new URL(import.meta.url).href)}); await fill(${JSON.stringify(dir)}, ${entries}); console.log(process.memoryUsage().rss);`;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
  });
  if (child.status !== 0) throw new Error(`the fill child failed: ${child.stderr}`);
  return Number(child.stdout.trim().split('\n').at(-1)) / 2 ** 20;
}

export { fill };

export const cache: Benchmark = {
  name: 'cache',
  title: '8. Row identity and the response cache',
  async run(ctx) {
    const root = await mkdtemp(join(tmpdir(), 'keybatch-bench-cache-'));
    try {
      const rate = await throughput(ctx, root);
      const resumed = await resume(ctx, root);
      const entries = ctx.number('entries', 1_000_000, 50_000);
      const big = ctx.number('big-entries', 10_000_000, 200_000);
      ctx.log(`cache: RSS at ${entries} and ${big} entries`);
      const rss = [await rssOf(entries, join(root, 'rss-1')), await rssOf(big, join(root, 'rss-2'))];
      const ratio = rate.with / rate.without;
      return [
        table(
          ['figure', 'value', 'target', 'met'],
          [
            [`runPrompts rows/s, no cache`, num(rate.without), '', ''],
            [`runPrompts rows/s, cache of ${num(entries)}`, num(rate.with), '', ''],
            [
              'with / without',
              num(ratio, 2),
              `>= ${THROUGHPUT_TARGET}`,
              ratio >= THROUGHPUT_TARGET ? 'yes' : 'no',
            ],
            [
              `resume of ${num(resumed.items)} keyed items: first new item`,
              ms(resumed.firstNewMs),
              `<= ${ms(RESUME_TARGET_MS)}`,
              resumed.firstNewMs <= RESUME_TARGET_MS ? 'yes' : 'no',
            ],
            [
              `+ identifying ${num(resumed.items)} prompt records (runPrompts)`,
              ms(resumed.identifyMs),
              '',
              '',
            ],
            [`RSS, ${num(entries)} cached entries`, `${num(rss[0]!)} MiB`, '', ''],
            [`RSS, ${num(big)} cached entries`, `${num(rss[1]!)} MiB`, '', ''],
          ],
        ),
      ].join('\n');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  },
};
