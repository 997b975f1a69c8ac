import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { until } from '../helpers.js';
import {
  checkpointLines,
  cli,
  expectNoFullKey,
  KEYS,
  snapshot,
  startCli,
  tempDirs,
  writeConfig,
  writeJsonl,
} from './helpers.js';

const tempDir = tempDirs();
let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator({
    keys: [
      { key: KEYS.good },
      { key: KEYS.spent, quota: 0 },
      { key: KEYS.onlyBig, models: ['gpt-4o'] },
      { key: KEYS.slow },
    ],
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

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** `name: value` lines of `keybatch status` as an object. */
function parseStatus(stdout: string): Record<string, string> {
  return Object.fromEntries(
    stdout
      .trimEnd()
      .split('\n')
      .map((line) => {
        const at = line.indexOf(': ');
        return [line.slice(0, at), line.slice(at + 2)];
      }),
  );
}

describe.concurrent('keybatch status', () => {
  it('after a SIGKILL mid-run reports partial progress, not complete, and changes nothing', async () => {
    const dir = await tempDir();
    const config = join(dir, 'config.json');
    const input = join(dir, 'in.jsonl');
    const output = join(dir, 'out.jsonl');
    await writeConfig(config, [key(KEYS.slow)]);
    await writeJsonl(
      input,
      Array.from({ length: 200 }, (_, i) => ({ prompt: `killed run ${i} [[sim:sleep=50]]` })),
    );
    const run = startCli(
      ['run', input, '-o', output, '-c', config, '-m', 'gpt-4o-mini', '--workers', '1', '--concurrency', '2'],
      { cwd: dir },
    );
    await until(
      async () => (await checkpointLines(`${output}.keybatch`)) >= 8,
      20_000,
      'some checkpointed rows',
    );
    run.proc.kill('SIGKILL');
    expect((await run.done).signal).toBe('SIGKILL');

    const before = await snapshot(`${output}.keybatch`);
    const result = await cli(['status', output], { cwd: dir });
    // Incomplete: exit 3.
    expect(result.code).toBe(3);
    const status = parseStatus(result.stdout);
    expect(status).toMatchObject({
      output,
      'output written': 'no',
      checkpoint: `${output}.keybatch`,
      failed: '0',
      complete: 'false',
    });
    expect(Number(status['done'])).toBeGreaterThanOrEqual(8);
    expect(Number(status['done'])).toBeLessThan(200);
    expect(await snapshot(`${output}.keybatch`)).toEqual(before);
    expect(existsSync(output)).toBe(false);
  });

  it('reports a finished run as complete', async () => {
    const dir = await tempDir();
    await writeConfig(join(dir, 'config.json'), [key(KEYS.good)]);
    await writeJsonl(join(dir, 'in.jsonl'), [{ prompt: 'a' }, { prompt: 'b' }, { prompt: 'c [[sim:400]]' }]);
    const run = await cli(['run', 'in.jsonl', '-o', 'out.jsonl', '-m', 'gpt-4o-mini', '--quiet'], {
      cwd: dir,
    });
    expect(run.code).toBe(1);
    const result = await cli(['status', 'out.jsonl'], { cwd: dir });
    // Complete with a final failure: exit 1.
    expect(result.code).toBe(1);
    expect(parseStatus(result.stdout)).toMatchObject({
      'output written': 'yes',
      done: '2',
      failed: '1',
      pending: '0',
      complete: 'true',
    });
  });

  it('exits 2 with one clear line when there is no checkpoint', async () => {
    const dir = await tempDir();
    const result = await cli(['status', 'nothing.jsonl'], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'keybatch: nothing.jsonl: no checkpoint found (nothing.jsonl.keybatch does not exist or holds no run)\n',
    );
    expect(existsSync(join(dir, 'nothing.jsonl.keybatch'))).toBe(false);
  });
});

describe.concurrent('keybatch keys', () => {
  it('prints the pool redacted: label, group, base URL host, organization, models, rpm/tpm', async () => {
    const dir = await tempDir();
    const config = join(dir, 'config.json');
    await writeFile(
      config,
      JSON.stringify({
        key_index: 1,
        key_list: [
          { api_key: KEYS.good },
          {
            api_key: KEYS.good2,
            name: 'team-b',
            group: 'org-b',
            organization: 'org-bbb',
            base_url: 'https://proxy.example/v1',
            rpm: 500,
            tpm: 200000,
            models: ['gpt-4o-mini', 'gpt-4o'],
          },
        ],
        colour: 'blue',
      }),
    );
    const result = await cli(['keys', '-c', config], { cwd: dir });
    expect(result.code).toBe(0);
    expect(result.stderr).toBe(`keybatch: ${config}: unknown field colour (ignored)\n`);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`${config}: 2 keys, rotation starts at key_list[1]`);
    expect(lines[1]).toMatch(/key\s+group\s+base URL\s+organization\s+models\s+rpm\s+tpm/);
    expect(lines[2]).toMatch(/^ {2}sk-…1001\s+-\s+api\.openai\.com\s+-\s+any\s+-\s+-$/);
    expect(lines[3]).toMatch(
      /^ {2}team-b\s+org-b\s+proxy\.example\s+org-bbb\s+gpt-4o-mini,gpt-4o\s+500\s+200000$/,
    );
  });

  it('--probe asks each key once and tells invalid, quota-spent, model-denied and good keys apart', async () => {
    const dir = await tempDir();
    await writeConfig(join(dir, 'config.json'), [
      key(KEYS.unknown),
      key(KEYS.spent),
      key(KEYS.onlyBig),
      key(KEYS.good),
    ]);
    const result = await cli(['keys', '--probe'], { cwd: dir });
    expect(result.code).toBe(0);
    const rows = result.stdout.split('\n');
    expect(rows.find((row) => row.includes('sk-…3001'))).toMatch(/invalid \(401 invalid_api_key\)$/);
    expect(rows.find((row) => row.includes('sk-…2001'))).toMatch(/quota \(429 insufficient_quota\)$/);
    expect(rows.find((row) => row.includes('sk-…4001'))).toMatch(/denied \(404 model_not_found\)$/);
    expect(rows.find((row) => row.includes('sk-…1001'))).toMatch(/ ok$/);
    expect(result.stdout).toContain('1 of 4 keys answered ok for gpt-4o-mini');

    const withModel = await cli(['keys', '--probe', '-m', 'gpt-4o'], { cwd: dir });
    expect(withModel.stdout.split('\n').find((row) => row.includes('sk-…4001'))).toMatch(/ ok$/);
  });

  it("--probe shows each failing key with its full base URL, the status and the server's message", async () => {
    const dir = await tempDir();
    const closed = await closedPort();
    const noV1 = sim.url.replace(/\/v1$/, '');
    await writeConfig(join(dir, 'config.json'), [
      key(KEYS.good),
      key(KEYS.good2, { base_url: noV1 }),
      key(KEYS.slow, { base_url: `http://127.0.0.1:${closed}/v1` }),
    ]);
    const result = await cli(['keys', '--probe'], { cwd: dir });
    expect(result.code).toBe(0);
    expectNoFullKey(result.stdout + result.stderr);
    const rows = result.stdout.split('\n');
    const at = rows.indexOf('answers:');
    expect(at).toBeGreaterThan(0);
    expect(rows[at - 1]).toBe('1 of 3 keys answered ok for gpt-4o-mini');
    // The table names every base URL in full when probing.
    expect(rows.find((row) => row.includes('sk-…1001'))).toContain(sim.url);
    expect(rows.find((row) => row.includes('sk-…1002'))).toMatch(/unreachable \(404\)$/);
    expect(rows.find((row) => row.includes('sk-…5001'))).toMatch(/unreachable \(ECONNREFUSED\)$/);
    const answers = rows.slice(at + 1);
    expect(answers[0]).toMatch(/key\s+base URL\s+answer/);
    expect(answers.find((row) => row.includes('sk-…1002'))).toMatch(
      new RegExp(`sk-…1002\\s+${noV1}\\s+404 Not Found: Invalid URL \\(POST /chat/completions\\)$`),
    );
    expect(answers.find((row) => row.includes('sk-…5001'))).toMatch(
      new RegExp(`sk-…5001\\s+http://127\\.0\\.0\\.1:${closed}/v1\\s+.*ECONNREFUSED`),
    );
    expect(answers.some((row) => row.includes('sk-…1001'))).toBe(false);
  });

  it('exits 2 naming the field of an invalid config, and never shows the key', async () => {
    const dir = await tempDir();
    const config = join(dir, 'config.json');
    await writeFile(config, JSON.stringify({ key_list: [{ api_key: KEYS.good, base_url: 'ftp://nope' }] }));
    const result = await cli(['keys', '-c', config], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`keybatch: ${config}:1: key_list[0].base_url: must be an http(s) URL\n`);
    expect(result.stdout).toBe('');
  });
});
