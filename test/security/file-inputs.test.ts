/**
 * A prompt file from someone else must never read the run's keys or the user's files, nor block a
 * thread: `../config.json`, an absolute path, a symbolic link out, a hard link to the config, a
 * device and a FIFO each get an error row and never reach the server; `--write-to .` overwrites
 * neither the input nor config.json. Every byte sent to the simulator is scanned for the keys.
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { link, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runPrompts } from '../../src/prompts/index.js';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { childEnv, cli, MAIN, readJsonl, tempDirs, writeJsonl } from '../cli/helpers.js';
import { bodiesWith, type Capture, startCapture } from './capture.js';

const KEYS = ['sk-test-security-files-alpha-7391', 'sk-test-security-files-bravo-5528'] as const;
/** A key of another provider in the same config: it must not leave either. */
const OTHER = 'sk-ant-test-security-other-provider-4410';
const MODEL = 'gpt-4o-mini';

const tempDir = tempDirs();
let sim: Simulator;
let capture: Capture;
const fifos: string[] = [];

beforeAll(async () => {
  sim = await startSimulator({ keys: KEYS.map((key) => ({ key })) });
  capture = await startCapture(sim.url);
});
afterAll(async () => {
  await capture.close();
  await sim.close();
});
afterEach(() => {
  // A reader blocked on a FIFO (a defect) is released: opening the write end lets its open return.
  for (const fifo of fifos.splice(0)) {
    try {
      closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      // No reader waiting (ENXIO): nothing blocked.
    }
  }
});

/** A folder `<dir>/in` of records beside `<dir>/config.json` (keys of this provider and another). */
async function layout(): Promise<{ dir: string; input: string; config: string; configText: string }> {
  const dir = await tempDir();
  const config = join(dir, 'config.json');
  const configText = `${JSON.stringify(
    {
      key_list: [
        ...KEYS.map((api_key) => ({ api_key, base_url: capture.url })),
        { api_key: OTHER, base_url: 'http://127.0.0.1:9/v1', name: 'other' },
      ],
    },
    null,
    2,
  )}\n`;
  await writeFile(config, configText);
  await mkdir(join(dir, 'in'));
  await writeFile(join(dir, 'in', 'ok.md'), 'A file the records may send.\n');
  return { dir, input: join(dir, 'in', 'prompts.jsonl'), config, configText };
}

const bodiesBefore = () => capture.bodies.length;
const modelBodies = (from: number) => capture.bodies.slice(from).filter((b) => b.length > 0);

function expectNoKeySent(from: number): void {
  const sent = capture.bodies.slice(from);
  for (const key of [...KEYS, OTHER]) expect(bodiesWith(sent, key), key.slice(-4)).toBe(0);
}

describe('files a record names: only regular files inside the input folder, never the run own', () => {
  it('../config.json, an absolute path, a symbolic link out, a hard link to the config and a FIFO get error rows and nothing reaches the server; the file inside is sent', async () => {
    const { dir, input, config } = await layout();
    const secret = join(dir, 'secret.txt');
    await writeFile(secret, 'a private file outside the input folder\n');
    await symlink('../secret.txt', join(dir, 'in', 'link-out.md'));
    await link(config, join(dir, 'in', 'notes.md'));
    const fifo = join(dir, 'in', 'pipe.md');
    execFileSync('mkfifo', [fifo]);
    fifos.push(fifo);
    await writeJsonl(input, [
      { id: 'config', prompt: 'x', files: ['../config.json'] },
      { id: 'absolute', prompt: 'x', files: [secret] },
      { id: 'link', prompt: 'x', files: ['link-out.md'] },
      { id: 'hardlink', prompt: 'x', files: ['notes.md'] },
      { id: 'fifo', prompt: 'x', files: ['pipe.md'] },
      { id: 'ok', prompt: 'x', files: ['ok.md'] },
    ]);
    const from = bodiesBefore();
    const output = join(dir, 'out.jsonl');
    const summary = await runPrompts(config, input, {
      output,
      model: MODEL,
      handleSignals: false,
      pool: { watch: false, notify: false },
    });
    const rows = await readJsonl(output);
    const codes = rows.map((row) => (row['error'] as { code?: string } | undefined)?.code ?? 'ok');
    expect(codes).toEqual([
      'file_not_allowed',
      'file_not_allowed',
      'file_not_allowed',
      'file_not_allowed',
      'file_unsupported',
      'ok',
    ]);
    const messages = rows.slice(0, 5).map((row) => (row['error'] as { message: string }).message);
    expect(messages[0]).toMatch(/^\.\.\/config\.json: outside the input's folder/);
    expect(messages[3]).toMatch(/^notes\.md: is the run's own config /);
    expect(messages[4]).toMatch(/^pipe\.md: not a regular file \(a FIFO\)/);
    expect(summary.failed).toBe(5);
    // One request (the file inside), and no byte of it carries a key or the private file.
    const sent = modelBodies(from);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.toString()).toContain('A file the records may send.');
    expect(bodiesWith(sent, 'a private file outside')).toBe(0);
    expectNoKeySent(from);
  }, 60_000);

  it('a device is refused even from an allowed folder (--files-from /dev), without reading it', async () => {
    const { dir, input, config } = await layout();
    await writeJsonl(input, [
      { id: 'zero', prompt: 'x', files: ['/dev/zero'] },
      { id: 'ok', prompt: 'x', files: ['ok.md'] },
    ]);
    const from = bodiesBefore();
    const output = join(dir, 'out.jsonl');
    await runPrompts(config, input, {
      output,
      model: MODEL,
      filesFrom: ['/dev'],
      handleSignals: false,
      pool: { watch: false, notify: false },
    });
    const rows = await readJsonl(output);
    expect(rows[0]?.['error']).toEqual({
      status: null,
      code: 'file_unsupported',
      message: '/dev/zero: not a regular file (a device); only regular files are read',
    });
    expect(rows[1]?.['error']).toBeUndefined();
    expect(modelBodies(from)).toHaveLength(1);
    expectNoKeySent(from);
  }, 60_000);

  it('--glob through a symbolic link to config.json sends nothing of it (compared by inode, not name)', async () => {
    const { dir } = await layout();
    await mkdir(join(dir, 'docs'));
    await writeFile(join(dir, 'docs', 'a.md'), 'a doc\n');
    await symlink('../config.json', join(dir, 'docs', 'cfg.md'));
    const from = bodiesBefore();
    const result = await cli(
      [
        'run',
        '--glob',
        'docs/*',
        '--prompt',
        'Summarise',
        '-o',
        'out.jsonl',
        '-c',
        'config.json',
        '-m',
        MODEL,
        '--quiet',
      ],
      { cwd: dir },
    );
    expect(result.code).toBe(1);
    const rows = await readJsonl(join(dir, 'out.jsonl'));
    expect(rows.map((row) => [row['id'], (row['error'] as { code?: string } | undefined)?.code])).toEqual([
      ['docs/a.md', undefined],
      ['docs/cfg.md', 'file_not_allowed'],
    ]);
    expect(modelBodies(from)).toHaveLength(1);
    expectNoKeySent(from);
  }, 60_000);
});

describe('records read from stdin', () => {
  it('name their files from the current folder (not the run directory stdin is copied to)', async () => {
    const { dir } = await layout();
    const records = `${JSON.stringify({ id: 'ok', prompt: 'x', files: ['ok.md'] })}\n`;
    const proc = spawn(
      process.execPath,
      [MAIN, 'run', '-', '-o', '../out.jsonl', '-c', '../config.json', '-m', MODEL, '--quiet'],
      { cwd: join(dir, 'in'), env: childEnv(), stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let stderr = '';
    proc.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    proc.stdin.end(records);
    const code = await new Promise<number | null>((resolve) => proc.on('close', resolve));
    expect(code, stderr).toBe(0);
    const rows = await readJsonl(join(dir, 'out.jsonl'));
    expect(rows[0]?.['error']).toBeUndefined();
  }, 60_000);
});

describe('--write-to never lands on a file the run reads', () => {
  it('--write-to . leaves the input, the records files and config.json intact, and names the rows skipped', async () => {
    const { dir, input, config, configText } = await layout();
    const inputText = [
      { id: 'self', prompt: 'x', files: ['prompts.jsonl'] },
      { id: 'ok', prompt: 'x', files: ['ok.md'] },
      { id: 'config', prompt: 'x', files: ['../config.json'] },
    ]
      .map((record) => JSON.stringify(record))
      .join('\n');
    await writeFile(input, `${inputText}\n`);
    const from = bodiesBefore();
    const result = await cli(
      ['run', 'prompts.jsonl', '-o', '../out.jsonl', '-c', '../config.json', '-m', MODEL, '--write-to', '.'],
      { cwd: join(dir, 'in') },
    );
    expect(result.code).toBe(1);
    expect(await readFile(input, 'utf8')).toBe(`${inputText}\n`);
    expect(await readFile(join(dir, 'in', 'ok.md'), 'utf8')).toBe('A file the records may send.\n');
    expect(await readFile(config, 'utf8')).toBe(configText);
    expect(result.stderr).toContain(
      "--write-to: prompts.jsonl not written: it would overwrite the run's own input",
    );
    expect(result.stderr).toContain(
      "--write-to: ok.md not written: it would overwrite the run's own record file",
    );
    expectNoKeySent(from);
    // The run can be resumed: the same command again has nothing left to send.
    const again = await cli(
      ['run', 'prompts.jsonl', '-o', '../out.jsonl', '-c', '../config.json', '-m', MODEL, '--quiet'],
      { cwd: join(dir, 'in') },
    );
    expect(again.code).toBe(1);
  }, 60_000);
});
