/**
 * `npm run bench` runs every benchmark; `npm run bench -- ratelimit pipeline` runs those named.
 * Options: `--quick` (short development runs), `--<option>=<value>` (see each benchmark),
 * `--out=FILE` (append the report to FILE too), `--no-wait` (do not wait for a quiet machine),
 * `--dist=PATH` (another build's dist/index.js, for before/after comparisons).
 * Each benchmark runs its baseline in the same run, so its figure is a ratio.
 */
import { appendFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { cache } from './cache.js';
import { distributed } from './distributed.js';
import type { BenchContext, Benchmark } from './lib/bench.js';
import { describeMachine, otherLoad, waitForQuiet } from './lib/machine.js';
import { overhead } from './overhead.js';
import { pipeline } from './pipeline.js';
import { ratelimit } from './ratelimit.js';
import { reload } from './reload.js';
import { resume } from './resume.js';
import { schema } from './schema.js';
import { shared } from './shared.js';

const BENCHMARKS: readonly Benchmark[] = [
  ratelimit,
  overhead,
  pipeline,
  resume,
  reload,
  distributed,
  shared,
  schema,
  cache,
];
/** Others' processes may use at most this share of the cores when a benchmark starts. */
const QUIET_BUSY = 0.2;
const QUIET_WAIT_MS = 10 * 60_000;

function parseArgs(argv: string[]): { names: string[]; options: Map<string, string> } {
  const names: string[] = [];
  const options = new Map<string, string>();
  for (const arg of argv) {
    if (arg === '--') continue;
    const match = /^--([\w-]+)(?:=(.*))?$/.exec(arg);
    if (match) options.set(match[1]!, match[2] ?? 'true');
    else names.push(arg);
  }
  return { names, options };
}

const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

async function main(): Promise<number> {
  const { names, options } = parseArgs(process.argv.slice(2));
  const unknown = names.filter((name) => !BENCHMARKS.some((b) => b.name === name));
  if (unknown.length > 0) {
    log(`unknown benchmark ${unknown.join(', ')}; known: ${BENCHMARKS.map((b) => b.name).join(', ')}`);
    return 2;
  }
  const selected = names.length > 0 ? BENCHMARKS.filter((b) => names.includes(b.name)) : BENCHMARKS;
  const quick = options.get('quick') === 'true';
  const ctx: BenchContext = {
    quick,
    number(name, full, short) {
      const given = options.get(name);
      if (given === undefined) return quick ? short : full;
      const value = Number(given);
      if (!Number.isFinite(value)) throw new Error(`--${name}: expected a number, got ${given}`);
      return value;
    },
    flag: (name) => options.get(name) === 'true',
    text: (name) => options.get(name),
    log,
  };
  const dist = options.get('dist');
  if (dist) process.env['KEYBATCH_DIST'] = resolve(dist);
  const out = options.get('out');
  const print = async (text: string) => {
    process.stdout.write(`${text}\n`);
    if (out) await appendFile(out, `${text}\n`);
  };

  await print(`# keybatch benchmarks${quick ? ' (--quick: development sizes)' : ''}\n`);
  await print(`Machine: ${describeMachine()}\n`);
  // ratelimit runs this checkout's dist/ and the --dist build side by side; the others test --dist alone.
  if (dist)
    await print(
      `Other build (--dist): ${resolve(dist)} (ratelimit: its \`before\` rows; other benchmarks: the library under test)\n`,
    );
  for (const bench of selected) {
    let quiet = '';
    if (!quick && options.get('no-wait') !== 'true') {
      const { busy, quiet: ok } = await waitForQuiet(QUIET_BUSY, QUIET_WAIT_MS, log);
      quiet = `Other load when it started: ${Math.round(busy * 100)}% of the cores${ok ? '' : ' (NOT quiet: figures may be noisy)'}.`;
    }
    log(`${bench.name}: ${bench.title}`);
    const started = Date.now();
    const others = await otherLoad();
    const report = await bench.run(ctx);
    const during = await others();
    if (during !== undefined) {
      quiet += ` Other processes used ${Math.round(during * 100)}% of the cores while it ran${during > QUIET_BUSY / 2 ? ' (figures may be noisy)' : ''}.`;
    }
    const took = Math.round((Date.now() - started) / 1000);
    const command = `npm run bench -- ${bench.name}${[...options]
      .filter(([k]) => k !== 'out')
      .map(([k, v]) => (v === 'true' ? ` --${k}` : ` --${k}=${v}`))
      .join('')}`;
    await print(
      `## ${bench.title}\n\n\`${command}\` — ${new Date().toISOString()}, took ${took} s. ${quiet}\n\n${report}\n`,
    );
  }
  return 0;
}

process.exitCode = await main();
