/**
 * 6. One run on many processes. A coordinator (runPipeline with `distributed`) and `keybatch
 * worker` processes over a real redis-server and the simulator (each in its own process), against
 * the same run on local worker threads:
 *
 * - a task costing ~2 ms of CPU per item plus one chat request: local (2 threads), 1 worker, 2 workers;
 * - a trivial task (no request): local (2 threads) and 2 workers, i.e. what the queue costs.
 *
 * Workers are started (and have joined Redis) before the coordinator; times run from the
 * coordinator's start to its merged output, checkpoint included.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchContext, Benchmark } from './lib/bench.js';
import { runChild } from './lib/child.js';
import { countLines, writeItems } from './lib/input.js';
import { freePort } from './lib/ports.js';
import { spawnSimulator } from './lib/sim-process.js';
import { median } from './lib/stats.js';
import { num, table, verdict } from './lib/table.js';

const KEY = 'sk-bench-distributed-key-0001';
const MAIN = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const CPU_TASK = fileURLToPath(new URL('./tasks/cpu-request-task.mjs', import.meta.url));
const TRIVIAL_TASK = fileURLToPath(new URL('./tasks/count-task.mjs', import.meta.url));
const SCALING_TARGET = 1.5;
const OVERHEAD_TARGET = 0.5;

interface RunResult {
  items: number;
  ms: number;
  cpuMs: number;
}

/** A child that is ready once `ready` appears on its stderr (or stdout). */
async function startReady(
  command: string,
  args: string[],
  ready: RegExp,
  what: string,
): Promise<ChildProcess> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} not ready within 60 s:\n${output}`)), 60_000);
    const onData = (data: Buffer) => {
      output += data.toString();
      if (ready.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code}):\n${output}`));
    });
  });
  child.removeAllListeners('exit');
  return child;
}

/** CPU milliseconds a live process has used so far (/proc/<pid>/stat utime + stime), 0 where unknown. */
async function cpuMsOf(pid: number | undefined): Promise<number> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = text
      .slice(text.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    return (((fields[11] ?? 0) + (fields[12] ?? 0)) * 1000) / 100;
  } catch {
    return 0;
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

export const distributed: Benchmark = {
  name: 'distributed',
  title: '6. One run on many processes (coordinator + keybatch worker over Redis)',
  async run(ctx: BenchContext): Promise<string> {
    const items = ctx.number('items', 4000, 1000);
    const trivialItems = ctx.number('trivial', 300_000, 20_000);
    const repeats = ctx.number('repeats', 3, 1);
    const latencyMs = ctx.number('latency', 20, 20);
    const concurrency = ctx.number('concurrency', 8, 8);
    const dir = await mkdtemp(join(tmpdir(), 'keybatch-bench-dist-'));
    const port = await freePort();
    const redis = await startReady(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
      /Ready to accept connections/,
      'redis-server',
    );
    const url = `redis://127.0.0.1:${port}`;
    const sim = await spawnSimulator({ keys: [{ key: KEY }], latencyMs });
    const config = join(dir, 'config.json');
    // A known, high limit: the pacer does not hold the run back (CPU and the queue are measured).
    await writeFile(
      config,
      JSON.stringify({ key_list: [{ api_key: KEY, base_url: sim.url, rpm: 1_000_000, tpm: 1_000_000_000 }] }),
    );
    const rows: string[][] = [];
    const verdicts: string[] = [];
    try {
      const measure = async (
        label: string,
        task: string,
        input: string,
        size: number,
        chunk: number,
        workers: number,
      ): Promise<number> => {
        const rates: number[] = [];
        let cpu = 0;
        let workersCpu = 0;
        for (let r = 0; r < repeats; r++) {
          const started: ChildProcess[] = [];
          try {
            for (let w = 0; w < workers; w++) {
              started.push(
                await startReady(
                  process.execPath,
                  // A worker runs only the task modules named on its command line (--task).
                  [
                    MAIN,
                    'worker',
                    '--redis',
                    url,
                    '-c',
                    config,
                    '--concurrency',
                    String(concurrency),
                    '--task',
                    task,
                  ],
                  /waiting for runs/,
                  'keybatch worker',
                ),
              );
            }
            const before = await Promise.all(started.map((w) => cpuMsOf(w.pid)));
            const output = join(dir, `out-${label.replace(/\W+/g, '-')}.jsonl`);
            const mode = workers === 0 ? 'local' : 'distributed';
            const result = await runChild<RunResult>('children/dist-coordinator.mjs', [
              mode,
              config,
              input,
              output,
              task,
              String(chunk),
              String(workers === 0 ? 2 : 64),
              url,
            ]);
            const lines = await countLines(output);
            if (result.items !== size || lines !== size) {
              throw new Error(`${label}: ${result.items} items, ${lines} lines for ${size}`);
            }
            await rm(output, { force: true });
            await rm(`${output}.keybatch`, { recursive: true, force: true });
            const rate = size / (result.ms / 1000);
            ctx.log(`distributed: ${label}: ${num(rate)} items/s`);
            rates.push(rate);
            cpu = result.cpuMs / result.ms;
            const after = await Promise.all(started.map((w) => cpuMsOf(w.pid)));
            workersCpu = after.reduce((sum, ms, k) => sum + ms - before[k]!, 0) / result.ms;
          } finally {
            await Promise.all(started.map(stop));
          }
        }
        const rate = median(rates);
        rows.push([label, num(rate), `${num(cpu * 100)}%`, workers === 0 ? '' : `${num(workersCpu * 100)}%`]);
        return rate;
      };

      const cpuInput = join(dir, 'cpu.jsonl');
      await writeItems(cpuInput, items);
      const local = await measure(
        '2 ms CPU + 1 request: local, 2 worker threads',
        CPU_TASK,
        cpuInput,
        items,
        10,
        0,
      );
      const one = await measure('2 ms CPU + 1 request: 1 keybatch worker', CPU_TASK, cpuInput, items, 10, 1);
      const two = await measure('2 ms CPU + 1 request: 2 keybatch workers', CPU_TASK, cpuInput, items, 10, 2);
      const trivialInput = join(dir, 'trivial.jsonl');
      await writeItems(trivialInput, trivialItems);
      const trivialLocal = await measure(
        'trivial task: local, 2 worker threads',
        TRIVIAL_TASK,
        trivialInput,
        trivialItems,
        1000,
        0,
      );
      const trivialDist = await measure(
        'trivial task: 2 keybatch workers',
        TRIVIAL_TASK,
        trivialInput,
        trivialItems,
        1000,
        2,
      );
      verdicts.push(
        `2 workers ÷ 1 worker: ${num(two / one, 2)} (target >= ${SCALING_TARGET}: ${verdict(two / one >= SCALING_TARGET)})`,
        `2 workers ÷ local worker threads: ${num(two / local, 2)}`,
        `trivial task, distributed ÷ local: ${num(trivialDist / trivialLocal, 2)} (target >= ${OVERHEAD_TARGET}: ${verdict(trivialDist / trivialLocal >= OVERHEAD_TARGET)})`,
      );
    } finally {
      await sim.close();
      await stop(redis);
      await rm(dir, { recursive: true, force: true });
    }
    return [
      `Input \`{"id":i,"text":"…"}\`, file to file with checkpoint. CPU task: ~2 ms of spinning per item, then one ` +
        `chat request (simulator latency ${latencyMs} ms), chunkSize 10; trivial task: \`x => ({ id, n })\`, chunkSize 1000; the key's rpm/tpm are far above the load, so pacing never waits. ` +
        `Local: runPipeline on 2 worker threads × concurrency 4. Distributed: the coordinator (window 64) and ` +
        `\`keybatch worker --concurrency ${concurrency}\` processes, redis-server and the simulator, each its own process, all on this machine. ` +
        `Median of ${repeats} run(s). "coordinator CPU": the coordinator's (or the local run's) CPU time ÷ wall time; ` +
        `"workers CPU": all workers' CPU time ÷ wall time (100% = one core), of the last run.`,
      '',
      table(['variant', 'items/s', 'coordinator CPU', 'workers CPU'], rows),
      '',
      ...verdicts.map((v) => `- ${v}`),
    ].join('\n');
  },
};
