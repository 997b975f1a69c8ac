/**
 * 8. Row identity and the response cache.
 * - Throughput: runPrompts at zero latency over R distinct rows, with a cache already holding N
 *   other answers (every row a miss: a lookup and a put each) against no cache; median of 3 each,
 *   alternated. Target: with / without >= 0.9.
 * - Resume: a content-keyed run (runPipeline `itemKey`, the machinery runPrompts uses) of M items,
 *   complete, then M + 1000 items: time from the call to the first new item. Plus what runPrompts
 *   adds before it: reading and identifying M prompt records (preparePrompts + sha256 per row).
 *   Target: <= 2 s.
 * - Memory: RSS of a process that opens a cache of N and of N10 entries through the cache API,
 *   reads 100,000 random ones back and stores one. The stores are written beforehand straight
 *   into LMDB in one transaction per 100,000 entries, keys ascending (the cache's own file, key
 *   and value format): filling 10M entries through `put` (random keys, small async batches) had
 *   not finished after 20 minutes.
 * Sizes: --rows (R), --entries (N), --resume-items (M: one size, or several, comma-separated;
 * default 100,000 and 1,000,000, quick 100,000), --big-entries (N10).
 * Parts: --parts=throughput,resume,rss (default all).
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

/** The answer every benchmark entry holds. */
const ANSWER = {
  id: 'chatcmpl-x',
  object: 'chat.completion',
  model: 'gpt-4o-mini',
  choices: [
    {
      index: 0,
      message: { role: 'assistant', content: 'echo: a cached answer of typical length for a benchmark row' },
      finish_reason: 'stop',
    },
  ],
  usage: { prompt_tokens: 12, completion_tokens: 14, total_tokens: 26 },
};

/** Entries per write transaction of the direct fill. */
const FILL_TXN = 100_000;

/** Identity `k` of `entries` of a direct fill: ascending, spread evenly over the 256-bit key space. */
const spreadId = (k: number, entries: number): string =>
  ((BigInt(k) * (2n ** 256n - 1n)) / BigInt(entries)).toString(16).padStart(64, '0');

/**
 * Writes `entries` answers straight into the cache's LMDB file (as ResponseCache opens it and
 * stores `{ t, a }`), keys ascending, one synchronous transaction per FILL_TXN entries.
 */
async function fillDirect(dir: string, entries: number): Promise<void> {
  const { mkdir } = await import('node:fs/promises');
  const { open } = await import('lmdb');
  await mkdir(dir, { recursive: true });
  const db = open<{ t: number; a: unknown }, Buffer>({
    path: join(dir, 'responses.mdb'),
    keyEncoding: 'binary',
    compression: true,
  });
  const t = Date.now();
  for (let from = 0; from < entries; from += FILL_TXN) {
    db.transactionSync(() => {
      for (let k = from; k < Math.min(entries, from + FILL_TXN); k++) {
        db.putSync(Buffer.from(spreadId(k, entries), 'hex'), { t, a: ANSWER }, { append: true });
      }
    });
  }
  await db.close();
}

/** Opens the filled cache through the cache API, reads READS random entries, stores one. */
async function useFilled(dir: string, entries: number): Promise<void> {
  const { ResponseCache } = await lib();
  const cache = await ResponseCache.open(dir);
  let found = 0;
  for (let r = 0; r < READS; r++) {
    if (cache.get(spreadId(Math.floor(Math.random() * entries), entries)) !== undefined) found++;
  }
  if (found !== READS) throw new Error(`only ${found} of ${READS} entries read back`);
  await cache.put('f'.repeat(64), ANSWER);
  await cache.close();
}

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

/** The resume sizes: `--resume-items`, one or several comma-separated (the growth with size shows superlinear costs). */
function resumeSizes(ctx: BenchContext): number[] {
  const given = ctx.text('resume-items');
  if (given === undefined) return ctx.quick ? [100_000] : [100_000, 1_000_000];
  const sizes = given.split(',').map(Number);
  if (sizes.some((n) => !Number.isInteger(n) || n <= 0))
    throw new Error(`--resume-items: expected sizes like 100000,1000000, got ${given}`);
  return sizes;
}

async function resume(
  ctx: BenchContext,
  root: string,
  items: number,
): Promise<{ items: number; firstNewMs: number; identifyMs: number }> {
  const { runPipeline } = await lib();
  const { preparePrompts } = await import('../src/prompts/input.js');
  const { jobIdentity } = await import('../src/prompts/row-keys.js');
  const input = join(root, `resume-${items}.jsonl`);
  const line = (k: number) => `${JSON.stringify({ prompt: `resume question ${k}` })}\n`;
  const write = (n: number) => writeFile(input, Array.from({ length: n }, (_, k) => line(k)).join(''));
  const config = { key_list: [{ api_key: 'sk-bench-cache-0002', base_url: 'http://127.0.0.1:9/v1' }] };
  const options = {
    output: join(root, `resume-${items}-out.jsonl`),
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

/** Runs `call` of this file in a child process; its last stdout line. */
async function inChild(call: string): Promise<string> {
  const { spawnSync } = await import('node:child_process');
  const script = `const m = await import(${JSON.stringify(new URL(import.meta.url).href)}); ${call}`;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
  });
  if (child.status !== 0) throw new Error(`the cache child failed: ${child.stderr}`);
  return child.stdout.trim().split('\n').at(-1) ?? '';
}

/** Fills a store of `entries` (its time), then the peak RSS (MiB) of a process using it. */
async function rssOf(entries: number, dir: string): Promise<{ fillMs: number; rss: number; maxRss: number }> {
  const d = JSON.stringify(dir);
  const started = Date.now();
  await inChild(`await m.fillDirect(${d}, ${entries}); console.log('ok');`);
  const fillMs = Date.now() - started;
  const out = await inChild(
    `await m.useFilled(${d}, ${entries}); console.log(process.memoryUsage().rss, process.resourceUsage().maxRSS);`,
  );
  const [rss, maxRss] = out.split(' ').map(Number) as [number, number];
  return { fillMs, rss: rss / 2 ** 20, maxRss: maxRss / 1024 };
}

export { fill, fillDirect, useFilled };

/** The table rows of the parts that ran. */
type Rows = string[][];

function throughputRows(rate: { without: number; with: number }, entries: number): Rows {
  const ratio = rate.with / rate.without;
  return [
    ['runPrompts rows/s, no cache', num(rate.without), '', ''],
    [`runPrompts rows/s, cache of ${num(entries)}`, num(rate.with), '', ''],
    ['with / without', num(ratio, 2), `>= ${THROUGHPUT_TARGET}`, ratio >= THROUGHPUT_TARGET ? 'yes' : 'no'],
  ];
}

function resumeRows(resumed: { items: number; firstNewMs: number; identifyMs: number }): Rows {
  return [
    [
      `resume of ${num(resumed.items)} keyed items: first new item`,
      ms(resumed.firstNewMs),
      `<= ${ms(RESUME_TARGET_MS)}`,
      resumed.firstNewMs <= RESUME_TARGET_MS ? 'yes' : 'no',
    ],
    [`+ identifying ${num(resumed.items)} prompt records (runPrompts)`, ms(resumed.identifyMs), '', ''],
  ];
}

async function rssRows(ctx: BenchContext, root: string): Promise<Rows> {
  const sizes = [
    1000,
    ctx.number('entries', 1_000_000, 50_000),
    ctx.number('big-entries', 10_000_000, 200_000),
  ];
  const rows: Rows = [];
  for (const [n, size] of sizes.entries()) {
    ctx.log(`cache: filling ${size} entries, then RSS of a process using them`);
    const r = await rssOf(size, join(root, `rss-${n}`));
    const what = n === 0 ? ' (baseline: node + keybatch + lmdb)' : '';
    rows.push([
      `RSS, cache of ${num(size)} entries${what}: at the end / peak`,
      `${num(r.rss)} / ${num(r.maxRss)} MiB`,
      '',
      '',
    ]);
    rows.push([`  (direct fill of ${num(size)} entries)`, ms(r.fillMs), '', '']);
    await rm(join(root, `rss-${n}`), { recursive: true, force: true });
  }
  return rows;
}

export const cache: Benchmark = {
  name: 'cache',
  title: '8. Row identity and the response cache',
  async run(ctx) {
    const root = await mkdtemp(join(tmpdir(), 'keybatch-bench-cache-'));
    const parts = new Set((ctx.text('parts') ?? 'throughput,resume,rss').split(','));
    try {
      const rows: Rows = [];
      if (parts.has('throughput'))
        rows.push(...throughputRows(await throughput(ctx, root), ctx.number('entries', 1_000_000, 50_000)));
      if (parts.has('resume')) {
        for (const items of resumeSizes(ctx)) rows.push(...resumeRows(await resume(ctx, root, items)));
      }
      if (parts.has('rss')) rows.push(...(await rssRows(ctx, root)));
      return table(['figure', 'value', 'target', 'met'], rows);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  },
};
