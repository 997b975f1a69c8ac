/**
 * `keybatch run` stopped by real signals sent to a real child process: the first SIGINT, SIGTERM or
 * SIGHUP lets the requests in flight finish (checkpointed), prints one line, exits 3; a second
 * Ctrl-C exits 130 at once; the summary and `keybatch status` count the same way after a resume.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { until } from '../helpers.js';
import { checkpointLines, cli, readJsonl, startCli, tempDirs, writeConfig, writeJsonl } from './helpers.js';

const tempDir = tempDirs();
let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

/** A simulator of its own (exact counts), config.json, in.jsonl of `records`, and the run's args. */
async function setup(key: string, records: unknown[], extra: string[] = []) {
  sim = await startSimulator({ keys: [{ key }] });
  const dir = await tempDir();
  const config = join(dir, 'config.json');
  const input = join(dir, 'in.jsonl');
  const output = join(dir, 'out.jsonl');
  await writeConfig(config, [{ api_key: key, base_url: sim.url }]);
  await writeJsonl(input, records);
  const args = ['run', input, '-o', output, '-c', config, '-m', 'gpt-4o-mini', ...extra];
  return { sim, dir, output, args };
}

const slow = (n: number) => Array.from({ length: n }, (_, i) => ({ prompt: `slow ${i} [[sim:sleep=50]]` }));
const lines = (text: string) => text.trimEnd().split('\n');

describe('keybatch run stopped by a signal', () => {
  it.each(['SIGTERM', 'SIGHUP'] as const)(
    '%s: the requests in flight finish and are checkpointed, one line, exit 3; the same command completes, each prompt answered once',
    async (signal) => {
      const n = 40;
      const { sim, dir, output, args } = await setup(`sk-test-cli-${signal}-0001`, slow(n), [
        '--workers',
        '1',
        '--concurrency',
        '2',
        '--quiet',
      ]);
      const run = startCli(args, { cwd: dir });
      await until(async () => (await checkpointLines(`${output}.keybatch`)) >= 4, 30_000, 'some rows');
      run.proc.kill(signal);
      const stopped = await run.done;
      expect(stopped.code).toBe(3);
      expect(lines(stopped.stderr)).toEqual([
        expect.stringMatching(
          new RegExp(`^keybatch: stopped by ${signal}; rerun the same command to resume: keybatch run `),
        ),
      ]);
      // Every answer given before the stop is in the checkpoint: nothing in flight was thrown away.
      const kept = await checkpointLines(`${output}.keybatch`);
      expect(kept).toBe(sim.stats().successes);
      expect(kept).toBeLessThan(n);

      const resumed = await cli(args, { cwd: dir });
      expect(resumed.code).toBe(0);
      expect((await readJsonl(output)).map((row) => row['id'])).toEqual(slow(n).map((_, i) => i));
      expect(sim.stats().successes).toBe(n);
      expect(Object.values(sim.stats().answered).every((count) => count === 1)).toBe(true);
    },
    60_000,
  );

  it('the first Ctrl-C says it finishes what is in flight, then stops with exit 3; nothing answered is lost', async () => {
    const { sim, dir, output, args } = await setup('sk-test-cli-sigint-0001', slow(40), [
      '--workers',
      '1',
      '--concurrency',
      '2',
    ]);
    const run = startCli(args, { cwd: dir });
    await until(async () => (await checkpointLines(`${output}.keybatch`)) >= 4, 30_000, 'some rows');
    run.proc.kill('SIGINT');
    const stopped = await run.done;
    expect(stopped.code).toBe(3);
    expect(stopped.stderr).toContain(
      'keybatch: interrupted: finishing the requests in flight, then stopping (Ctrl-C again exits at once)',
    );
    expect(stopped.stderr).toContain('keybatch: stopped after');
    expect(lines(stopped.stderr).at(-1)).toMatch(
      /^keybatch: interrupted; rerun the same command to resume: /,
    );
    expect(await checkpointLines(`${output}.keybatch`)).toBe(sim.stats().successes);
  }, 60_000);

  it('a second Ctrl-C exits 130 at once, even with requests that never end', async () => {
    const records = Array.from({ length: 4 }, (_, i) => ({ prompt: `never answered ${i} [[sim:hang]]` }));
    const { sim, dir, args } = await setup('sk-test-cli-sigint-twice-0001', records, ['--workers', '1']);
    const run = startCli(args, { cwd: dir });
    await until(() => sim.stats().requests >= 1, 30_000, 'a request in flight');
    run.proc.kill('SIGINT');
    await until(() => run.stderr().includes('interrupted: finishing'), 10_000, 'the first stop');
    run.proc.kill('SIGINT');
    const result = await run.done;
    expect(result.code).toBe(130);
    expect(lines(result.stderr).at(-1)).toBe(
      'keybatch: SIGINT again: exiting now; the requests in flight are lost (rerun the same command to resume)',
    );
  }, 60_000);
});

/** `name  value` lines of the summary, or `name: value` lines of `keybatch status`, as numbers. */
function counts(text: string, pattern: RegExp): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const match = pattern.exec(line);
    if (match) out[match[1]!] = Number(match[2]);
  }
  return out;
}

describe('after an interrupted resume', () => {
  it('the summary and `keybatch status` give the same done, failed and pending (earlier failures are failed)', async () => {
    // One lane, in order: two refused prompts first, a third one later, slow prompts around them.
    const records = Array.from({ length: 40 }, (_, i) => ({
      prompt: i < 2 || i === 12 ? `refused ${i} [[sim:400]]` : `slow ${i} [[sim:sleep=40]]`,
    }));
    const { dir, output, args } = await setup('sk-test-cli-counts-0001', records, [
      '--workers',
      '1',
      '--concurrency',
      '1',
    ]);
    const first = startCli(args, { cwd: dir });
    await until(async () => (await checkpointLines(`${output}.keybatch`)) >= 4, 30_000, 'the first rows');
    first.proc.kill('SIGTERM');
    expect((await first.done).code).toBe(3);

    const second = startCli(args, { cwd: dir });
    await until(async () => (await checkpointLines(`${output}.keybatch`)) >= 15, 30_000, 'past row 12');
    second.proc.kill('SIGTERM');
    const stopped = await second.done;
    expect(stopped.code).toBe(3);
    const summary = counts(stopped.stderr, /^ {2}(done|failed|pending) +(\d+)/);
    const status = await cli(['status', output], { cwd: dir });
    const checkpoint = counts(status.stdout, /^(done|failed|pending): (\d+)$/);
    expect(checkpoint.failed).toBe(3);
    expect(summary).toEqual(checkpoint);
    expect(stopped.stderr).toMatch(/ {2}failed +3 \(.*2 from an earlier run\)/);
  }, 60_000);
});
