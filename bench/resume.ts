/**
 * 4. Resume. A 1M-item file-to-file run (trivial function with a little delay per chunk) is killed
 * with SIGKILL at about half, then run again to the end. Figures: time from the rerun's process
 * start to its first new chunk (checkpoint scan + input pre-pass + skipping what is done), and
 * items redone: started in the killed run (its start log) and started again in the rerun, against
 * what was in flight at the kill (started but not in the checkpoint). The final output is checked:
 * every item exactly once, in input order.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchContext, Benchmark } from './lib/bench.js';
import { startChild } from './lib/child.js';
import { writeItems } from './lib/input.js';
import { median } from './lib/stats.js';
import { ms, num, table, verdict } from './lib/table.js';

const SCAN_TARGET_MS = 2000;

interface FirstChunk {
  event: 'first-chunk';
  atScript: number;
  atImported: number;
  atCall: number;
  atFirstChunk: number;
}

interface End {
  event: 'end';
  done: number;
  skipped: number;
  failed: number;
  ms: number;
}

type Event = FirstChunk | End | { event: 'progress'; done: number; skipped: number };

interface Trial {
  killedAt: number;
  recorded: number;
  inFlight: number;
  redone: number;
  skipped: number;
  fresh: FirstChunk;
  resumed: FirstChunk;
  rerunMs: number;
}

/** Calls `visit` for each complete line of a file (split on '\n'; a last line without one is skipped). */
async function eachLine(path: string, visit: (line: string) => void): Promise<void> {
  let rest = '';
  for await (const chunk of createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
    const lines = (rest + (chunk as string)).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) if (line) visit(line);
  }
}

/** Items with a record in the checkpoint's lane files (complete lines only). */
async function recordedItems(dir: string, total: number): Promise<Uint8Array> {
  const set = new Uint8Array(total);
  for (const name of await readdir(dir)) {
    if (!/^worker-\d+\.jsonl$/.test(name)) continue;
    await eachLine(join(dir, name), (line) => {
      const match = /^\{"i":(\d+),/.exec(line);
      if (match) set[Number(match[1])] = 1;
    });
  }
  return set;
}

/** Items whose chunk was started, from a start log. */
async function startedItems(path: string, total: number): Promise<Uint8Array> {
  const set = new Uint8Array(total);
  await eachLine(path, (line) => {
    for (const id of line.split(',')) set[Number(id)] = 1;
  });
  return set;
}

/** Checks the merged output: line k is item k's result, for every k. */
async function checkOutput(path: string, total: number): Promise<void> {
  let k = 0;
  await eachLine(path, (line) => {
    if (!line.startsWith(`{"id":${k},`))
      throw new Error(`output line ${k + 1} is not item ${k}: ${line.slice(0, 40)}`);
    k++;
  });
  if (k !== total) throw new Error(`output has ${k} lines for ${total} items`);
}

function runOnce(args: string[], killAt: number | undefined) {
  const child = startChild('children/resume-run.mjs', args);
  let first: FirstChunk | undefined;
  let end: End | undefined;
  let killedAt = 0;
  child.onLine((line) => {
    const event = JSON.parse(line) as Event;
    if (event.event === 'first-chunk') first = event;
    else if (event.event === 'end') end = event;
    else if (killAt !== undefined && killedAt === 0 && event.done >= killAt) {
      killedAt = event.done;
      child.proc.kill('SIGKILL');
    }
  });
  return child.exited.then(({ code, signal }) => {
    if (killAt !== undefined ? signal !== 'SIGKILL' : code !== 0) {
      throw new Error(`resume-run ended with ${signal ?? code}:\n${child.stderr()}`);
    }
    if (!first) throw new Error('resume-run never started a chunk');
    return { first, end, killedAt };
  });
}

export const resume: Benchmark = {
  name: 'resume',
  title: '4. Resume after kill -9',
  async run(ctx: BenchContext): Promise<string> {
    const total = ctx.number('items', 1_000_000, 100_000);
    const trials = ctx.number('trials', 3, 1);
    const delayMs = String(ctx.number('delay', 2, 2));
    const chunkSize = String(ctx.number('chunk', 100, 100));
    const workers = String(ctx.number('workers', 4, 4));
    const dir = await mkdtemp(join(tmpdir(), 'keybatch-bench-resume-'));
    const results: Trial[] = [];
    try {
      const input = join(dir, 'in.jsonl');
      ctx.log(`resume: writing ${num(total)} items`);
      await writeItems(input, total);
      for (let t = 0; t < trials; t++) {
        const output = join(dir, `out-${t}.jsonl`);
        const log1 = join(dir, `started-${t}-1.log`);
        const log2 = join(dir, `started-${t}-2.log`);
        const args = (log: string) => [input, output, log, delayMs, chunkSize, workers];
        ctx.log(`resume: trial ${t + 1}: run until about half, then SIGKILL`);
        const killed = await runOnce(args(log1), Math.floor(total / 2));
        const recorded = await recordedItems(`${output}.keybatch`, total);
        const started1 = await startedItems(log1, total);
        ctx.log(`resume: trial ${t + 1}: rerun to the end`);
        const rerun = await runOnce(args(log2), undefined);
        if (!rerun.end) throw new Error('the rerun printed no end');
        const started2 = await startedItems(log2, total);
        let recordedCount = 0;
        let inFlight = 0;
        let redone = 0;
        for (let i = 0; i < total; i++) {
          recordedCount += recorded[i]!;
          if (started1[i] && !recorded[i]) inFlight++;
          if (started1[i] && started2[i]) redone++;
        }
        await checkOutput(output, total);
        results.push({
          killedAt: killed.killedAt,
          recorded: recordedCount,
          inFlight,
          redone,
          skipped: rerun.end.skipped,
          fresh: killed.first,
          resumed: rerun.first,
          rerunMs: rerun.end.ms,
        });
        await rm(output, { force: true });
        await rm(`${output}.keybatch`, { recursive: true, force: true });
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const rows = results.map((r, t) => [
      String(t + 1),
      num(r.recorded),
      num(r.skipped),
      ms(r.fresh.atFirstChunk),
      ms(r.resumed.atFirstChunk),
      ms(r.resumed.atImported),
      ms(r.resumed.atFirstChunk - r.resumed.atCall),
      num(r.inFlight),
      num(r.redone),
    ]);
    const scan = median(results.map((r) => r.resumed.atFirstChunk));
    const worstRedone = Math.max(...results.map((r) => r.redone - r.inFlight));
    const bound = Number(workers) * Number(chunkSize);
    return [
      `${num(total)} items, \`runPipeline\` file to file, ${workers} lanes × chunkSize ${chunkSize}, a ${delayMs} ms delay per chunk; ` +
        `SIGKILL once the run reports >= ${num(Math.floor(total / 2))} items done, then the same command again. ` +
        `The child runs the built library with plain node; times are since its process started (\`performance.now()\`).`,
      '',
      table(
        [
          'trial',
          'in checkpoint at kill',
          'skipped by rerun',
          'fresh: start → 1st chunk',
          'rerun: start → 1st new chunk',
          '(of which node + imports)',
          '(runPipeline call → 1st new chunk)',
          'in flight at kill',
          'redone',
        ],
        rows,
      ),
      '',
      `Median rerun start → first new chunk: ${ms(scan)} (target <= ${ms(SCAN_TARGET_MS)}: ${verdict(scan <= SCAN_TARGET_MS)}). ` +
        `Redone <= in flight at the kill in every trial (at most ${workers} lanes × ${chunkSize} = ${bound} items): ${verdict(worstRedone <= 0)}. ` +
        'Every final output had each item exactly once, in order.',
    ].join('\n');
  },
};
