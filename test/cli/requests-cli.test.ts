/**
 * `keybatch run`'s request and output flags, stdin and stdout, and the scriptable `status`,
 * `failures` and `keys` (issue 13), in real child processes against the simulator over HTTP.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import {
  type CliResult,
  childEnv,
  cli,
  expectNoFullKey,
  KEYS,
  MAIN,
  readJsonl,
  tempDirs,
  writeConfig,
  writeJsonl,
} from './helpers.js';

const tempDir = tempDirs();
let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator({ keys: [{ key: KEYS.good }] });
});
afterAll(async () => {
  await sim.close();
});

type Json = Record<string, unknown>;

async function project(records: unknown[] = [{ id: 'a', prompt: 'hello' }]) {
  const dir = await tempDir();
  await writeConfig(join(dir, 'config.json'), [{ api_key: KEYS.good, base_url: sim.url }]);
  await writeJsonl(join(dir, 'in.jsonl'), records);
  return dir;
}

/** The bodies the simulator got whose text includes `marker`. */
const sentWith = (marker: string): Json[] =>
  sim
    .requests()
    .filter((r) => r.method === 'POST' && JSON.stringify(r.body).includes(marker))
    .map((r) => r.body as Json);

/** `keybatch <args>` with `stdin` piped in. */
function cliWithStdin(args: string[], cwd: string, stdin: string): Promise<CliResult> {
  const proc = spawn(process.execPath, [MAIN, ...args], {
    cwd,
    env: childEnv(),
    stdio: 'pipe',
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  proc.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  proc.stdin.end(stdin);
  return new Promise((resolve) => {
    proc.on('close', (code, signal) => {
      expectNoFullKey(stdout + stderr);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const RUN = ['run', 'in.jsonl', '-o', 'out.jsonl', '-c', 'config.json', '-m', 'gpt-4o-mini', '--quiet'];

describe('keybatch run: request parameters', () => {
  it('sends --param (JSON values), --params file entries and maps --max-tokens for --endpoint responses', async () => {
    const dir = await project([{ id: 'a', prompt: 'cli-params-1' }]);
    await writeFile(join(dir, 'params.json'), JSON.stringify({ top_p: 0.5, user: 'from-file' }));
    const tool = { type: 'function', name: 'weather', parameters: { type: 'object', properties: {} } };
    const result = await cli(
      [
        ...RUN,
        '--endpoint',
        'responses',
        '--max-tokens',
        '20',
        '--params',
        'params.json',
        '--param',
        `tools=${JSON.stringify([tool])}`,
        '--param',
        'user=alice',
        '--param',
        'store=false',
      ],
      { cwd: dir },
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const [body] = sentWith('cli-params-1');
    expect(body).toMatchObject({
      max_output_tokens: 20,
      top_p: 0.5,
      user: 'alice',
      store: false,
      tools: [tool],
    });
    expect(body).not.toHaveProperty('max_tokens');
  });

  it('refuses --max-tokens with --endpoint embeddings before sending anything: exit 2, one line', async () => {
    const dir = await project([{ prompt: 'cli-embed-refused' }]);
    const before = sim.requests().length;
    const result = await cli(
      [
        'run',
        'in.jsonl',
        '-o',
        'out.jsonl',
        '-c',
        'config.json',
        '-m',
        'text-embedding-3-small',
        '--endpoint',
        'embeddings',
        '--max-tokens',
        '5',
      ],
      { cwd: dir },
    );
    expect(result.code).toBe(2);
    expect(result.stderr.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/^keybatch: .*"max_tokens" is not a parameter of the embeddings endpoint/),
    ]);
    expect(sim.requests().length).toBe(before);
  });
});

describe('keybatch run: outputs', () => {
  it('--format batch writes BatchRequestOutput lines in input order; --raw keeps the answer in a row', async () => {
    const dir = await project([
      { custom_id: 'x-1', prompt: 'cli-batch-1' },
      { custom_id: 'x-2', prompt: 'cli-batch-2', n: 2 },
    ]);
    const batch = await cli([...RUN, '--format', 'batch'], { cwd: dir });
    expect(batch.code).toBe(0);
    const lines = await readJsonl(join(dir, 'out.jsonl'));
    expect(lines.map((l) => l['custom_id'])).toEqual(['x-1', 'x-2']);
    for (const line of lines) {
      expect(line).toEqual({
        id: expect.stringMatching(/^batch_req_/),
        custom_id: expect.any(String),
        response: { status_code: 200, request_id: expect.stringMatching(/^req_/), body: expect.any(Object) },
        error: null,
      });
    }
    expect((lines[1]!['response'] as { body: { choices: unknown[] } }).body.choices).toHaveLength(2);

    const rows = await cli([...RUN, '-o', 'rows.jsonl', '--raw'], { cwd: dir });
    expect(rows.code).toBe(0);
    const [first, second] = await readJsonl(join(dir, 'rows.jsonl'));
    expect(first!['raw']).toMatchObject({ object: 'chat.completion' });
    expect(second!['responses']).toHaveLength(2);
  });

  it('reads - from stdin (a BOM accepted) and writes -o - to stdout, nothing else on stdout; a rerun resumes', async () => {
    const dir = await project();
    const input = '\ufeff{"id":"s1","prompt":"cli-stdin-1"}\n{"id":"s2","prompt":"cli-stdin-2"}\n';
    const args = ['run', '-', '-o', '-', '-c', 'config.json', '-m', 'gpt-4o-mini'];
    const first = await cliWithStdin(args, dir, input);
    expect(first.code).toBe(0);
    const lines = first.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Json);
    expect(lines.map((l) => l['id'])).toEqual(['s1', 's2']);
    expect(lines.every((l) => typeof l['response'] === 'string')).toBe(true);
    expect(first.stderr).toContain('done');
    expect(sentWith('cli-stdin-')).toHaveLength(2);

    const again = await cliWithStdin(args, dir, input);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(first.stdout);
    expect(sentWith('cli-stdin-')).toHaveLength(2);
  });

  it('a plain-text line of stdin is refused naming stdin:line and what a record looks like', async () => {
    const dir = await project();
    const result = await cliWithStdin(
      ['run', '-', '-o', 'out.jsonl', '-c', 'config.json', '-m', 'gpt-4o-mini'],
      dir,
      '{"prompt":"fine"}\nsummarize this please\n',
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'keybatch: stdin:2: not JSON; a record looks like {"prompt": "..."} or {"messages": [...]}: summarize this please\n',
    );
  });
});

describe('keybatch status, failures and keys for scripts', () => {
  it('status --json and its exit codes: 0 complete, 1 final failures, 3 retryable; failures lists both', async () => {
    const dir = await project([{ id: 'ok', prompt: 'fine' }]);
    expect((await cli(RUN, { cwd: dir })).code).toBe(0);
    const complete = await cli(['status', 'out.jsonl', '--json'], { cwd: dir });
    expect(complete.code).toBe(0);
    expect(JSON.parse(complete.stdout)).toMatchObject({
      done: 1,
      failed: 0,
      final: 0,
      retryable: 0,
      complete: true,
    });

    await writeJsonl(join(dir, 'in.jsonl'), [
      { id: 'ok', prompt: 'fine' },
      { id: 'bad', prompt: 'refused [[sim:400]]' },
    ]);
    expect((await cli([...RUN, '--fresh'], { cwd: dir })).code).toBe(1);
    const refused = await cli(['status', 'out.jsonl', '--json'], { cwd: dir });
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({ done: 1, failed: 1, final: 1, retryable: 0 });

    await writeJsonl(join(dir, 'in.jsonl'), [
      { id: 'ok', prompt: 'fine' },
      { id: 'bad', prompt: 'refused [[sim:400]]' },
      { id: 'flaky', prompt: 'always down [[sim:503]]' },
    ]);
    await cli([...RUN, '--fresh'], { cwd: dir });
    const retryable = await cli(['status', 'out.jsonl'], { cwd: dir });
    expect(retryable.code).toBe(3);
    expect(retryable.stdout).toContain('final failures: 1\nretryable failures: 1\n');

    const failures = await cli(['failures', 'out.jsonl', '--json'], { cwd: dir });
    expect(failures.code).toBe(0);
    expect(JSON.parse(failures.stdout)).toEqual([
      {
        index: 1,
        id: 'bad',
        code: expect.any(String),
        status: 400,
        message: expect.any(String),
        final: true,
      },
      {
        index: 2,
        id: 'flaky',
        code: expect.any(String),
        status: 503,
        message: expect.any(String),
        final: false,
      },
    ]);
    const text = await cli(['failures', 'out.jsonl'], { cwd: dir });
    expect(text.stdout).toMatch(/^bad\s+\S+\s+final\s+/m);
    expect(text.stdout).toMatch(/^flaky\s+\S+\s+retryable\s+/m);
  }, 60_000);

  it('keys --json; keys --probe exits 1 when no key answered ok', async () => {
    const dir = await tempDir();
    await writeConfig(join(dir, 'good.json'), [{ api_key: KEYS.good, base_url: sim.url }]);
    await writeConfig(join(dir, 'bad.json'), [{ api_key: KEYS.unknown, base_url: sim.url }]);
    const json = await cli(['keys', '-c', 'good.json', '--json', '--probe'], { cwd: dir });
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as { keys: Json[]; probe: { results: Json[] } };
    expect(report.keys).toEqual([expect.objectContaining({ key: 'sk-…1001', baseUrl: sim.url })]);
    expect(report.probe.results).toEqual([expect.objectContaining({ result: 'ok' })]);
    const bad = await cli(['keys', '-c', 'bad.json', '--probe'], { cwd: dir });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('0 of 1 keys answered ok');
  });
});
