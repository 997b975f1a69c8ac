/**
 * One run of the resume benchmark (killed with SIGKILL mid-way, then run again to the end):
 *
 *   node bench/children/resume-run.mjs <input.jsonl> <output.jsonl> <start-log> <delayMs> <chunkSize> <workers>
 *
 * A trivial function with a little delay per chunk, file to file, checkpointed. Every chunk start
 * is appended to <start-log> (its item ids, one line per chunk) before any work on it, so the parent
 * can tell which items were started in each run. Prints JSON lines: `first-chunk` (times since
 * process start), `progress` every 100 ms, and `end` with the run's stats.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

const atScript = performance.now();
const [input, output, startLog, delayArg, chunkArg, workersArg] = process.argv.slice(2);
if (!input || !output || !startLog)
  throw new Error('usage: resume-run.mjs <input> <output> <start-log> <delayMs> <chunkSize> <workers>');
const delayMs = Number(delayArg ?? 2);
const say = (/** @type {object} */ event) => process.stdout.write(`${JSON.stringify(event)}\n`);

const { runPipeline, silentLogger } = await import(process.env.KEYBATCH_DIST ?? '../../dist/index.js');
const atImported = performance.now();
const log = openSync(startLog, 'a');
let first = true;
let atCall = 0;

/** @param {Array<{ id: number, text: string }>} chunk */
async function task(chunk) {
  if (first) {
    first = false;
    say({ event: 'first-chunk', atScript, atImported, atCall, atFirstChunk: performance.now() });
  }
  writeSync(log, `${chunk.map((x) => x.id).join(',')}\n`);
  await new Promise((resolve) => setTimeout(resolve, delayMs));
  return chunk.map((x) => ({ id: x.id, n: x.text.length }));
}

atCall = performance.now();
const { stats } = await runPipeline({ key_list: [{ api_key: 'sk-bench-offline-key-0000' }] }, input, task, {
  output,
  workers: Number(workersArg ?? 4),
  chunkSize: Number(chunkArg ?? 100),
  handleSignals: false,
  logger: silentLogger,
  pool: { notify: false },
  progressIntervalMs: 100,
  onProgress: (progress) => say({ event: 'progress', done: progress.done, skipped: progress.skipped }),
});
closeSync(log);
say({
  event: 'end',
  done: stats.done,
  skipped: stats.skipped,
  failed: stats.failed,
  ms: performance.now() - atCall,
});
