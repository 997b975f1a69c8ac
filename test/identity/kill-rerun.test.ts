// kill -9 of the built CLI during each kind of rerun (first run, append, edit, reorder, delete,
// duplicates, a second output from the cache), then a rerun: every row exactly once, in the input's
// order, and no request paid twice beyond those in flight at the kill. Counts are the simulator's.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import {
  checkpointLines,
  childEnv,
  cli,
  KEYS,
  readJsonl,
  tempDirs,
  writeConfig,
  writeJsonl,
} from '../cli/helpers.js';
import { until } from '../helpers.js';

const BUILT = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
/** --workers 2 --concurrency 4: at most 8 requests are in flight when the kill lands. */
const IN_FLIGHT = 8;

const tempDir = tempDirs();
let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator({ keys: [{ key: KEYS.good }], latencyMs: { min: 2, max: 10 } });
});
afterAll(async () => {
  await sim.close();
});

/** Requests the simulator answered more than once (over everything it answered). */
const repaid = () => Object.values(sim.stats().answered).reduce((sum, count) => sum + (count - 1), 0);
const requests = () => sim.stats().requests;

function startBuilt(
  args: string[],
  cwd: string,
): { proc: ChildProcessWithoutNullStreams; exit: Promise<number | null> } {
  const proc = spawn(process.execPath, [BUILT, ...args], { cwd, env: childEnv(), stdio: 'pipe' });
  proc.stdin.end();
  proc.stdout.resume();
  proc.stderr.resume();
  return { proc, exit: new Promise((resolve) => proc.on('close', (code) => resolve(code))) };
}

describe('kill -9 during a rerun of a changed input, then rerun', () => {
  it('every row exactly once, in order, nothing paid twice beyond what was in flight', async () => {
    const root = await tempDir();
    const config = join(root, 'config.json');
    const input = join(root, 'in.jsonl');
    const cache = join(root, 'cache');
    await writeConfig(config, [{ api_key: KEYS.good, base_url: sim.url }]);
    const args = (output: string) => [
      'run',
      input,
      '-o',
      join(root, output),
      '-c',
      config,
      '-m',
      'gpt-4o-mini',
      '--workers',
      '2',
      '--concurrency',
      '4',
      '--cache',
      cache,
      '--quiet',
    ];
    let kills = 0;
    /** Runs until `more` new records are checkpointed (or the run ends), kills it, reruns to the end. */
    const killAndRerun = async (
      records: Array<{ id: string; prompt: string }>,
      output = 'out.jsonl',
      more = 40,
    ) => {
      await writeJsonl(input, records);
      const dir = join(root, `${output}.keybatch`);
      const before = await checkpointLines(dir);
      const first = startBuilt(args(output), root);
      let ended = false;
      void first.exit.then(() => {
        ended = true;
      });
      await until(
        async () =>
          ended ||
          (await checkpointLines(dir)) >= before + more ||
          (more === 0 && (await readdir(dir).catch(() => [] as string[])).includes('lock')),
        60_000,
        'records or the lock',
      );
      if (!ended) {
        first.proc.kill('SIGKILL');
        kills++;
      }
      await first.exit;
      const rerun = await cli(args(output), { cwd: root });
      expect(rerun.code, rerun.stderr).toBe(0);
      const rows = await readJsonl(join(root, output));
      expect(rows.map((r) => r['id'])).toEqual(records.map((r) => r.id));
      expect(rows.map((r) => r['response'])).toEqual(records.map((r) => `echo: ${r.prompt}`));
      expect(repaid()).toBeLessThanOrEqual(kills * IN_FLIGHT);
    };
    const make = (from: number, n: number, text = 'kill question') =>
      Array.from({ length: n }, (_, k) => ({ id: `k${from + k}`, prompt: `${text} ${from + k}` }));

    let records = make(0, 600);
    await killAndRerun(records);
    expect(requests()).toBeLessThanOrEqual(600 + kills * IN_FLIGHT);

    let sent = requests();
    records = [...records, ...make(600, 200)];
    await killAndRerun(records);
    expect(requests() - sent).toBeGreaterThanOrEqual(200);
    expect(requests() - sent).toBeLessThanOrEqual(200 + IN_FLIGHT);

    sent = requests();
    records = records.map((r, k) => (k % 8 === 3 ? { id: r.id, prompt: `${r.prompt} (edited)` } : r));
    await killAndRerun(records);
    expect(requests() - sent).toBeLessThanOrEqual(100 + IN_FLIGHT);

    sent = requests();
    records = [...records].reverse().filter((_, k) => k % 80 !== 5);
    await killAndRerun(records, 'out.jsonl', 0);
    expect(requests()).toBe(sent);

    sent = requests();
    const dups = Array.from({ length: 400 }, (_, k) => ({ id: `d${k}`, prompt: `dup question ${k % 40}` }));
    await killAndRerun(dups, 'dups.jsonl', 10);
    expect(requests() - sent).toBeLessThanOrEqual(40 + IN_FLIGHT);

    sent = requests();
    await killAndRerun(records, 'second.jsonl', 100);
    expect(requests()).toBe(sent);
    expect(kills).toBeGreaterThanOrEqual(3);
  }, 300_000);
});
