/**
 * `keybatch run --redis <url> --distributed` with `keybatch worker` processes: the same output rows
 * as a local run, a workers line in the summary, nothing left in Redis; usage errors in one line.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { cli, expectNoFullKey, readJsonl, writeConfig, writeJsonl } from '../cli/helpers.js';
import { until, useTempDir } from '../helpers.js';
import { useRedis } from '../redis.js';
import { runKeys, startKeybatch, startWorkerCli, useChildren } from './helpers.js';

const redis = useRedis();
const tempDir = useTempDir();
useChildren();
let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const KEY = 'sk-test-dist-cli-key-0001';

describe('keybatch run --distributed and keybatch worker', () => {
  it('writes the same rows as a local run, and the summary names the workers', async () => {
    sim = await startSimulator({ keys: [{ key: KEY }], latencyMs: 5 });
    const dir = await tempDir();
    const config = join(dir, 'config.json');
    await writeConfig(config, [{ api_key: KEY, base_url: sim.url }]);
    const input = join(dir, 'in.jsonl');
    await writeJsonl(
      input,
      Array.from({ length: 30 }, (_, n) => ({ id: `p${n}`, prompt: `prompt number ${n}` })),
    );
    const local = await cli(
      ['run', input, '-o', join(dir, 'local.jsonl'), '-c', config, '-m', 'gpt-4o-mini'],
      {
        cwd: dir,
      },
    );
    expect(local.code, local.stderr).toBe(0);

    const worker = startWorkerCli(['--redis', redis().url, '-c', config], dir);
    const output = join(dir, 'out.jsonl');
    const run = startKeybatch(
      [
        'run',
        input,
        '-o',
        output,
        '-c',
        config,
        '-m',
        'gpt-4o-mini',
        '--redis',
        redis().url,
        '--distributed',
      ],
      dir,
    );
    const { code } = await run.exited;
    expect(code, run.stderr()).toBe(0);
    expect(run.stderr()).toMatch(/\nworkers: 1: \S+ [\d.]+\/s, \d+ in flight, seen \d+ s ago\n/);
    const strip = (rows: Array<Record<string, unknown>>) => rows.map(({ usage: _u, ...row }) => row);
    expect(strip(await readJsonl(output))).toEqual(strip(await readJsonl(join(dir, 'local.jsonl'))));
    await until(async () => runKeys(await redis().dump()).length === 0, 30_000, 'Redis to be empty');
    await worker.kill('SIGTERM');
    expect(await worker.exited).toEqual({ code: 0, signal: null });
    expectNoFullKey(run.stderr() + worker.stderr(), [KEY]);
  }, 120_000);

  it('refuses --distributed without a Redis, and a worker without --redis, in one line (exit 2)', async () => {
    const dir = await tempDir();
    const input = join(dir, 'in.jsonl');
    await writeJsonl(input, [{ prompt: 'x' }]);
    const run = await cli(['run', input, '-o', join(dir, 'out.jsonl'), '-m', 'm', '--distributed'], {
      cwd: dir,
    });
    expect(run.code).toBe(2);
    expect(run.stderr.trim()).toBe('keybatch: --distributed needs --redis <url> (or KEYBATCH_REDIS)');
    const worker = await cli(['worker'], { cwd: dir });
    expect(worker.code).toBe(2);
    expect(worker.stderr.trim()).toBe(
      'keybatch: worker needs --redis <url> (or KEYBATCH_REDIS) (see --help)',
    );
  }, 60_000);
});
