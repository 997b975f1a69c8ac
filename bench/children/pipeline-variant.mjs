/**
 * One variant of the pipeline benchmark, alone in this process (so the peak RSS is its own), on
 * the built library as users run it (plain node, no TypeScript loader):
 *
 *   node bench/children/pipeline-variant.mjs <plain|readline|lanes|threads> <input> <output> [chunkSize] [workers]
 *
 * Prints one JSON line: { items, ms, peakRss }. `KEYBATCH_DIST` may name another build's index.js
 * (for before/after comparisons).
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** @type {typeof import('../../dist/index.js')} */
const { runPipeline, silentLogger } = await import(process.env.KEYBATCH_DIST ?? '../../dist/index.js');

const [variant, input, output, chunkArg, workersArg] = process.argv.slice(2);
if (!variant || !input || !output) {
  throw new Error('usage: pipeline-variant.mjs <variant> <input> <output> [chunkSize] [workers]');
}
const chunkSize = Number(chunkArg ?? 1000);
const workers = Number(workersArg ?? 4);
/** @param {{ id: number, text: string }} x */
const transform = (x) => ({ id: x.id, n: x.text.length });

/** The floor: a manual line splitter, JSON.parse, the function, JSON.stringify, a write stream. */
async function plain() {
  const out = createWriteStream(output);
  let rest = '';
  let items = 0;
  for await (const chunk of createReadStream(input, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
    const text = rest + chunk;
    let block = '';
    let start = 0;
    for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
      if (end > start) {
        block += `${JSON.stringify(transform(JSON.parse(text.slice(start, end))))}\n`;
        items++;
      }
      start = end + 1;
    }
    rest = text.slice(start);
    if (!out.write(block)) await once(out, 'drain');
  }
  if (rest.trim()) {
    out.write(`${JSON.stringify(transform(JSON.parse(rest)))}\n`);
    items++;
  }
  out.end();
  await once(out, 'finish');
  return items;
}

/** What many users would write: readline, one write per line (respecting backpressure). */
async function readline() {
  const out = createWriteStream(output);
  const lines = createInterface({ input: createReadStream(input), crlfDelay: Number.POSITIVE_INFINITY });
  let items = 0;
  for await (const line of lines) {
    if (!line) continue;
    if (!out.write(`${JSON.stringify(transform(JSON.parse(line)))}\n`)) await once(out, 'drain');
    items++;
  }
  out.end();
  await once(out, 'finish');
  return items;
}

/** @param {boolean} threads */
async function pipeline(threads) {
  const task = threads
    ? fileURLToPath(new URL('../tasks/count-task.mjs', import.meta.url))
    : (/** @type {Array<{ id: number, text: string }>} */ chunk) => chunk.map(transform);
  const { stats } = await runPipeline({ key_list: [{ api_key: 'sk-bench-offline-key-0000' }] }, input, task, {
    output,
    workers,
    chunkSize,
    resume: false,
    handleSignals: false,
    logger: silentLogger,
    pool: { notify: false },
  });
  if (stats.failed > 0) throw new Error(`${stats.failed} items failed: ${JSON.stringify(stats.failures[0])}`);
  return stats.done;
}

const variants = {
  plain,
  readline,
  lanes: () => pipeline(false),
  threads: () => pipeline(true),
};
const run = variants[/** @type {keyof typeof variants} */ (variant)];
if (!run) throw new Error(`unknown variant ${variant}`);
const started = performance.now();
const items = await run();
const ms = performance.now() - started;
process.stdout.write(`${JSON.stringify({ items, ms, peakRss: process.resourceUsage().maxRSS * 1024 })}\n`);
