/**
 * `keybatch run --schema`, `--reask`, `--retry-failed` and `keybatch export --csv`, as a user types
 * them, over the simulator; the CSV read back by Python's csv module (an independent reader).
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { cli, readJsonl, tempDirs, writeConfig, writeJsonl } from '../cli/helpers.js';
import { CODE_OF, fateOf, PERSON, SCENARIO } from './helpers.js';

const KEY = 'sk-test-cli-schema-key-6001';
const run = promisify(execFile);
const tempDir = tempDirs();
let sim: Simulator;

beforeAll(async () => {
  sim = await startSimulator({ keys: [{ key: KEY }], structured: SCENARIO });
});
afterAll(async () => {
  await sim.close();
});

async function project(rows: number): Promise<{ dir: string; prompts: string[] }> {
  const dir = await tempDir();
  await writeConfig(join(dir, 'config.json'), [{ api_key: KEY, base_url: sim.url }]);
  // Commas, quotes and a newline: the CSV must quote them.
  const prompts = Array.from({ length: rows }, (_, i) => `cli person ${i}, "quoted"\nin ${dir}`);
  await writeJsonl(
    join(dir, 'in.jsonl'),
    prompts.map((prompt, i) => ({ id: `p${i}`, prompt })),
  );
  await writeFile(join(dir, 'person.json'), JSON.stringify(PERSON));
  return { dir, prompts };
}

/** The rows of a CSV file, as Python's csv module reads them. */
async function pythonCsv(path: string): Promise<string[][]> {
  const code = 'import csv, json, sys\nprint(json.dumps(list(csv.reader(open(sys.argv[1], newline="")))))';
  const { stdout } = await run('python3', ['-c', code, path]);
  return JSON.parse(stdout) as string[][];
}

describe('keybatch run --schema', () => {
  it('a schema file that is not a valid JSON Schema: one line naming the file and the problem, exit 2, nothing sent', async () => {
    const { dir } = await project(3);
    await writeFile(
      join(dir, 'bad.json'),
      JSON.stringify({ type: 'object', properties: { age: { type: 'integr' } } }),
    );
    await writeFile(join(dir, 'notjson.json'), '{"type": "object",');
    const before = sim.stats().requests;
    for (const [file, problem] of [
      ['bad.json', /bad\.json: not a valid JSON Schema: \/properties\/age\/type is "integr"/],
      ['notjson.json', /notjson\.json: not valid JSON/],
      ['missing.json', /missing\.json: no such file/],
    ] as const) {
      const result = await cli(
        ['run', 'in.jsonl', '-o', 'out.jsonl', '-m', 'gpt-4o-mini', '--schema', file],
        { cwd: dir },
      );
      expect(result.code, result.stderr).toBe(2);
      const lines = result.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(problem);
    }
    expect(sim.stats().requests).toBe(before);
  }, 60_000);

  it('writes parsed rows, fails truncated/refused/filtered with their codes (exit 1), and export --csv gives one column per property', async () => {
    const { dir, prompts } = await project(120);
    const result = await cli(
      ['run', 'in.jsonl', '-o', 'out.jsonl', '-m', 'gpt-4o-mini', '--schema', 'person.json', '--quiet'],
      { cwd: dir },
    );
    const failed = prompts.filter((p) => CODE_OF[fateOf(p)] !== undefined).length;
    expect(failed).toBeGreaterThan(0);
    expect(result.code, result.stderr).toBe(1);
    const rows = await readJsonl(join(dir, 'out.jsonl'));
    rows.forEach((row, i) => {
      const code = CODE_OF[fateOf(prompts[i] as string)];
      if (code) expect(row['error']).toMatchObject({ code });
      else expect(row['parsed']).toMatchObject({ name: `echo: ${prompts[i]}`, age: 1 });
    });

    const exported = await cli(['export', 'out.jsonl', '--csv', '-o', 'out.csv'], { cwd: dir });
    expect(exported.code, exported.stderr).toBe(0);
    const table = await pythonCsv(join(dir, 'out.csv'));
    expect(table[0]).toEqual(['id', 'name', 'age', 'tags', 'address', 'error']);
    expect(table).toHaveLength(prompts.length + 1);
    table.slice(1).forEach((cells, i) => {
      const row = rows[i] as { id: string; parsed?: Record<string, unknown>; error?: { code: string } };
      expect(cells[0]).toBe(row.id);
      if (row.parsed) {
        expect(cells.slice(1, 5)).toEqual([
          row.parsed['name'],
          String(row.parsed['age']),
          JSON.stringify(row.parsed['tags']),
          JSON.stringify(row.parsed['address']),
        ]);
        expect(cells[5]).toBe('');
      } else expect(cells[5]).toBe(row.error?.code);
    });
  }, 90_000);

  it('--retry-failed sends again only the rows that failed, with the options given now; answered rows stay, in order', async () => {
    const { dir, prompts } = await project(60);
    // Every row's first answer invalid, and --reask 0: every row fails SCHEMA_INVALID but the others' fates.
    const first = await cli(
      [
        'run',
        'in.jsonl',
        '-o',
        'out.jsonl',
        '-m',
        'gpt-4o-mini',
        '--schema',
        'person.json',
        '--reask',
        '0',
        '--quiet',
      ],
      { cwd: dir },
    );
    expect(first.code).toBe(1);
    const before = await readJsonl(join(dir, 'out.jsonl'));
    const invalid = prompts.filter((p) => fateOf(p) === 'invalid');
    expect(invalid.length).toBeGreaterThan(0);
    expect(
      before.filter((row) => (row['error'] as { code?: string })?.code === 'SCHEMA_INVALID'),
    ).toHaveLength(invalid.length);
    const sentBefore = sim.requests().length;

    const again = await cli(
      [
        'run',
        'in.jsonl',
        '-o',
        'out.jsonl',
        '-m',
        'gpt-4o-mini',
        '--schema',
        'person.json',
        '--reask',
        '2',
        '--retry-failed',
      ],
      { cwd: dir },
    );
    const after = await readJsonl(join(dir, 'out.jsonl'));
    const finalFailures = prompts.filter((p) => CODE_OF[fateOf(p)] !== undefined);
    // Sent again: each final failure once, and each invalid row once more for its re-ask.
    const sent = sim.requests().slice(sentBefore);
    const mine = sent.filter((r) => JSON.stringify(r.body).includes(JSON.stringify(dir).slice(1, -1)));
    expect(mine).toHaveLength(invalid.length * 2 + finalFailures.length);
    expect(again.code).toBe(finalFailures.length > 0 ? 1 : 0);
    expect(after.map((row) => row['id'])).toEqual(before.map((row) => row['id']));
    after.forEach((row, i) => {
      const fate = fateOf(prompts[i] as string);
      if (fate === 'valid') expect(row).toEqual(before[i]);
      if (fate === 'invalid')
        expect(row).toMatchObject({ reasks: 1, parsed: { name: `echo: ${prompts[i]}` } });
    });
    expect(again.stderr).toMatch(/--retry-failed: \d+ failed record\(s\) sent again \(.*SCHEMA_INVALID/);
  }, 90_000);
});
