import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { cli, readJsonl, tempDirs, writeConfig } from '../cli/helpers.js';
import { copyFixtures, FIXTURE_PATHS, modelRequests } from './helpers.js';

const KEY = 'sk-test-files-cli-key-0001';
const tempDir = tempDirs();
let sim: Simulator;

beforeAll(async () => {
  sim = await startSimulator({ keys: [{ key: KEY }] });
});
afterAll(async () => {
  await sim.close();
});

describe('keybatch run --glob', () => {
  it('one row per matching file in path order, answers under --write-to mirroring the tree; a rerun sends nothing', async () => {
    const dir = await tempDir();
    const base = await copyFixtures(dir);
    await writeConfig(join(dir, 'config.json'), [{ api_key: KEY, base_url: sim.url }]);
    const args = [
      'run',
      '--glob',
      '**/*.{md,txt,pdf,png}',
      '--prompt',
      'Summarise this file in one line.',
      '-o',
      '../out.jsonl',
      '--write-to',
      '../answers',
      '-c',
      '../config.json',
      '-m',
      'gpt-4o-mini',
      '--endpoint',
      'responses',
      '--quiet',
    ];
    const first = await cli(args, { cwd: base });
    expect(first.stderr).toBe('keybatch: --write-to: 4 answer(s) written under ../answers\n');
    expect(first.code).toBe(0);
    const rows = await readJsonl(join(dir, 'out.jsonl'));
    expect(rows.map((r) => [r['id'], r['prompt']])).toEqual(
      FIXTURE_PATHS.map((path) => [path, 'Summarise this file in one line.']),
    );
    const answers = join(dir, 'answers');
    const written = (await readdir(answers, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name).slice(answers.length + 1))
      .sort();
    expect(written).toEqual(FIXTURE_PATHS);
    for (const row of rows) {
      expect(await readFile(join(answers, row['id'] as string), 'utf8')).toBe(row['response']);
    }

    sim.resetStats();
    const again = await cli(args, { cwd: base });
    expect(again.code).toBe(0);
    expect(modelRequests(sim)).toHaveLength(0);
  });

  it("never takes keybatch's own files as records: the output, its run directory, the answers, config.json", async () => {
    const dir = await tempDir();
    const base = await copyFixtures(dir);
    await writeConfig(join(base, 'config.json'), [{ api_key: KEY, base_url: sim.url }]);
    const args = ['run', '--glob', '**/*', '--prompt', 'Check.', '-o', 'out.jsonl', '--write-to', 'answers'];
    const flags = ['-m', 'gpt-4o-mini', '--endpoint', 'responses', '--quiet'];
    sim.resetStats();
    const first = await cli([...args, ...flags], { cwd: base });
    expect(first.code).toBe(0);
    expect((await readJsonl(join(base, 'out.jsonl'))).map((r) => r['id'])).toEqual(FIXTURE_PATHS);
    expect(JSON.stringify(modelRequests(sim))).not.toContain(KEY);
    // The rerun sees the same files (not out.jsonl, out.jsonl.keybatch/… or answers/…): nothing is sent.
    sim.resetStats();
    const again = await cli([...args, ...flags], { cwd: base });
    expect(again.stderr).not.toContain('different input');
    expect(again.code).toBe(0);
    expect(modelRequests(sim)).toHaveLength(0);
  });

  it('without an input or --glob: one usage line, exit 2', async () => {
    const dir = await tempDir();
    const none = await cli(['run', '-o', 'out.jsonl'], { cwd: dir });
    expect(none.code).toBe(2);
    expect(none.stderr.trim().split('\n')).toEqual([
      "keybatch: missing the input: give a prompts .jsonl, or --glob '<pattern>' --prompt '<text>' (see --help)",
    ]);
    const noPrompt = await cli(['run', '--glob', '*.md', '-o', 'out.jsonl'], { cwd: dir });
    expect(noPrompt.code).toBe(2);
    expect(noPrompt.stderr).toContain('--glob needs --prompt <text>');
    const nothing = await cli(['run', '--glob', '*.none', '--prompt', 'x', '-o', 'out.jsonl', '-m', 'm'], {
      cwd: dir,
    });
    expect(nothing.code).toBe(2);
    expect(nothing.stderr.trim()).toBe("keybatch: --glob '*.none': no file matches");
  });
});
