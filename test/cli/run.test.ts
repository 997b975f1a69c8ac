import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { until } from '../helpers.js';
import {
  allText,
  checkpointLines,
  cli,
  expectNoFullKey,
  KEYS,
  readJsonl,
  startCli,
  tempDirs,
  writeConfig,
  writeJsonl,
} from './helpers.js';

const tempDir = tempDirs();
let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator({
    keys: [{ key: KEYS.good }, { key: KEYS.good2 }, { key: KEYS.spent, quota: 0 }],
  });
});
afterAll(async () => {
  await sim.close();
});

const key = (apiKey: string, extra: Record<string, unknown> = {}) => ({
  api_key: apiKey,
  base_url: sim.url,
  ...extra,
});

/** A temp dir with config.json (these keys) and in.jsonl (these records). */
async function setup(keys: Array<Record<string, unknown>>, records: unknown[]) {
  const dir = await tempDir();
  const config = join(dir, 'config.json');
  const input = join(dir, 'in.jsonl');
  const output = join(dir, 'out.jsonl');
  await writeConfig(config, keys);
  await writeJsonl(input, records);
  return { dir, config, input, output };
}

const lastLine = (text: string) => text.trimEnd().split('\n').at(-1) ?? '';

describe.concurrent('keybatch run', () => {
  it('runs a mixed pool (invalid, quota-spent and good keys) to an ordered output and exits 0', async () => {
    const records = Array.from({ length: 30 }, (_, i) => ({
      id: `mixed-${i}`,
      prompt: `mixed pool prompt ${i}`,
    }));
    const { dir, config, input, output } = await setup(
      [key(KEYS.unknown), key(KEYS.spent), key(KEYS.good)],
      records,
    );
    const result = await cli(
      [
        'run',
        input,
        '-o',
        output,
        '-c',
        config,
        '-m',
        'gpt-4o-mini',
        '--system',
        'Be brief.',
        '--workers',
        '2',
        '--concurrency',
        '3',
        '--temperature',
        '0.2',
        '--max-tokens',
        '20',
        '--log-dir',
        join(dir, 'logs'),
      ],
      { cwd: dir },
    );
    expect(result.stderr).toContain('key sk-…3001 was rejected (401 invalid_api_key)');
    expect(result.stderr).toContain('key sk-…2001 has no quota left');
    expect(result.stderr).toMatch(/done +30 of 30/);
    expect(result.code).toBe(0);

    const rows = await readJsonl(output);
    expect(rows.map((row) => row['id'])).toEqual(records.map((record) => record.id));
    rows.forEach((row, i) => {
      expect(row).toMatchObject({ system_prompt: 'Be brief.', response: `echo: mixed pool prompt ${i}` });
    });
    const sent = sim.requests().filter((r) => JSON.stringify(r.body).includes('mixed pool prompt 0'));
    expect(sent.at(-1)?.body).toMatchObject({ model: 'gpt-4o-mini', temperature: 0.2, max_tokens: 20 });
    const logs = await readdir(join(dir, 'logs'));
    expect(logs).toHaveLength(1);
    expect((await readFile(join(dir, 'logs', logs[0]!), 'utf8')).split('\n').length).toBeGreaterThan(30);
    expectNoFullKey(await allText(dir));
  });

  it('writes a refused prompt as one error row and exits 1', async () => {
    const records = ['one', 'two [[sim:400]]', 'three', 'four', 'five'].map((prompt) => ({ prompt }));
    const { dir, config, input, output } = await setup([key(KEYS.good)], records);
    const result = await cli(['run', input, '-o', output, '-c', config, '-m', 'gpt-4o-mini'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(lastLine(result.stderr)).toBe(`keybatch: 1 of 5 items failed; they are in ${output} with "error"`);
    const rows = await readJsonl(output);
    expect(rows.map((row) => row['id'])).toEqual([0, 1, 2, 3, 4]);
    expect(rows.filter((row) => row['error'])).toEqual([
      expect.objectContaining({
        id: 1,
        prompt: 'two [[sim:400]]',
        error: expect.objectContaining({ status: 400 }),
      }),
    ]);
    expectNoFullKey(await allText(dir));
  });

  it('names the file and line of a malformed input line, exits 2, and leaves an existing output alone', async () => {
    const { dir, config, input, output } = await setup([key(KEYS.good)], []);
    await writeFile(input, '{"prompt":"a"}\n{"prompt":"b"}\n{not json\n{"prompt":"d"}\n');
    await writeFile(output, 'the previous output\n');
    const result = await cli(['run', input, '-o', output, '-c', config, '-m', 'gpt-4o-mini'], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(
      new RegExp(`^keybatch: ${input.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3: `),
    );
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(await readFile(output, 'utf8')).toBe('the previous output\n');
    expect(existsSync(`${output}.keybatch`)).toBe(false);
  });

  it('JSON nested 100,000 levels deep: one INPUT_INVALID line naming file and line, exit 2, nothing sent or written', async () => {
    const { dir, config, input, output } = await setup([key(KEYS.good)], []);
    await writeFile(input, `{"prompt":"a"}\n{"prompt":${'['.repeat(100_000)}${']'.repeat(100_000)}}\n`);
    const requests = sim.stats().requests;
    const result = await cli(['run', input, '-o', output, '-c', config, '-m', 'gpt-4o-mini'], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(`${input}:2: JSON nested more than 1000 levels deep`);
    expect(sim.stats().requests).toBe(requests);
    expect(existsSync(output)).toBe(false);
  });

  it('names the field of an invalid config and exits 2 without a stack trace', async () => {
    const { dir, config, input, output } = await setup(
      [key(KEYS.good), key(KEYS.good2, { rpm: -5 })],
      [{ prompt: 'x' }],
    );
    const result = await cli(['run', input, '-o', output, '-c', config, '-m', 'gpt-4o-mini'], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`keybatch: ${config}:10: key_list[1].rpm: must be a number > 0\n`);
    expect(existsSync(output)).toBe(false);
  });

  it('with no config and no OPENAI_API_KEY exits 2 saying what to do', async () => {
    const dir = await tempDir();
    await writeJsonl(join(dir, 'in.jsonl'), [{ prompt: 'x' }]);
    const result = await cli(['run', 'in.jsonl', '-o', 'out.jsonl', '-m', 'gpt-4o-mini'], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('./config.json does not exist and OPENAI_API_KEY is not set');
  });

  it('uses OPENAI_API_KEY when there is no config', async () => {
    const dir = await tempDir();
    await writeJsonl(join(dir, 'in.jsonl'), [{ prompt: 'from the environment' }]);
    const result = await cli(['run', 'in.jsonl', '-o', 'out.jsonl', '-m', 'gpt-4o-mini', '--quiet'], {
      cwd: dir,
      env: { OPENAI_API_KEY: KEYS.good2, OPENAI_BASE_URL: sim.url },
    });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(await readJsonl(join(dir, 'out.jsonl'))).toMatchObject([
      { response: 'echo: from the environment' },
    ]);
  });

  it('stops with exit 3 when no key is usable within --wait-timeout; the same command resumes after a key is added', async () => {
    const records = Array.from({ length: 12 }, (_, i) => ({ prompt: `waiting prompt ${i}` }));
    const { dir, config, input, output } = await setup([key(KEYS.spent)], records);
    const args = ['run', input, '-o', output, '-c', config, '-m', 'gpt-4o-mini', '--wait-timeout', '1'];
    const stopped = await cli(args, { cwd: dir });
    expect(stopped.code).toBe(3);
    expect(stopped.stderr).toContain('no usable key');
    expect(lastLine(stopped.stderr)).toContain('rerun the same command to resume: keybatch run');
    expect(existsSync(output)).toBe(false);

    await writeConfig(config, [key(KEYS.spent), key(KEYS.good)]);
    const resumed = await cli(args, { cwd: dir });
    expect(resumed.code).toBe(0);
    expect((await readJsonl(output)).map((row) => row['response'])).toEqual(
      records.map((record) => `echo: ${record.prompt}`),
    );
    expectNoFullKey(await allText(dir));
  });

  it('on Ctrl-C stops with exit 3 keeping what finished; the same command resumes and skips it', async () => {
    const records = Array.from({ length: 40 }, (_, i) => ({ prompt: `slow prompt ${i} [[sim:sleep=60]]` }));
    const { dir, config, input, output } = await setup([key(KEYS.good2)], records);
    const args = [
      'run',
      input,
      '-o',
      output,
      '-c',
      config,
      '-m',
      'gpt-4o-mini',
      '--workers',
      '1',
      '--concurrency',
      '2',
    ];
    const run = startCli(args, { cwd: dir });
    await until(
      async () => (await checkpointLines(`${output}.keybatch`)) >= 4,
      20_000,
      'some checkpointed rows',
    );
    run.proc.kill('SIGINT');
    const stopped = await run.done;
    expect(stopped.stderr).toContain('interrupted: finishing the requests in flight');
    expect(lastLine(stopped.stderr)).toMatch(/^keybatch: interrupted; rerun the same command to resume/);
    expect(stopped.code).toBe(3);
    const kept = await checkpointLines(`${output}.keybatch`);
    expect(kept).toBeGreaterThanOrEqual(4);
    expect(kept).toBeLessThan(40);

    const resumed = await cli(args, { cwd: dir });
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toMatch(new RegExp(`skipped +${kept} `));
    expect((await readJsonl(output)).map((row) => row['id'])).toEqual(records.map((_, i) => i));
  });

  it('refuses bad flag values with exit 2, naming the flag and the value', async () => {
    const { dir, config, input, output } = await setup([key(KEYS.good)], [{ prompt: 'x' }]);
    const base = ['run', input, '-o', output, '-c', config, '-m', 'gpt-4o-mini'];
    const cases: Array<[string[], string]> = [
      [['--workers', '0'], "option '--workers <n>' argument '0' is invalid"],
      [['--concurrency', '1.5'], "option '--concurrency <n>' argument '1.5' is invalid"],
      [['--wait-timeout', 'soon'], "option '--wait-timeout <seconds>' argument 'soon' is invalid"],
      [['--max-tokens', '-3'], "option '--max-tokens <n>' argument '-3' is invalid"],
      [['--temperature', 'hot'], "option '--temperature <x>' argument 'hot' is invalid"],
      [['--bogus'], "unknown option '--bogus'"],
    ];
    const results = await Promise.all(cases.map(([flags]) => cli([...base, ...flags], { cwd: dir })));
    results.forEach((result, i) => {
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`keybatch: ${cases[i]![1]}`);
      expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    });
    expect(existsSync(`${output}.keybatch`)).toBe(false);
  });

  it('--quiet prints nothing on success', async () => {
    const { dir, config, input, output } = await setup([key(KEYS.good)], [{ prompt: 'quiet one' }]);
    const result = await cli(['run', input, '-o', output, '-c', config, '-m', 'gpt-4o-mini', '--quiet'], {
      cwd: dir,
    });
    expect(result).toMatchObject({ code: 0, stdout: '', stderr: '' });
  });
});
