// The response cache from the command line: a second output over the same input costs nothing,
// another model asks again, errors are never cached, no key is ever stored. Counts are the simulator's.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { cli, KEYS, readJsonl, tempDirs, writeConfig, writeJsonl } from '../cli/helpers.js';

const tempDir = tempDirs();
let sim: Simulator;
beforeAll(async () => {
  sim = await startSimulator({ keys: [{ key: KEYS.good }, { key: KEYS.good2 }], latencyMs: 0 });
});
afterAll(async () => {
  await sim.close();
});

const requests = () => sim.stats().requests;

/** Every byte of every file under `dir`. */
async function allBytes(dir: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const name of await readdir(dir, { recursive: true })) {
    const path = join(dir, name);
    if ((await stat(path)).isFile()) parts.push(await readFile(path));
  }
  return Buffer.concat(parts);
}

describe('keybatch run --cache', () => {
  it('a second output over the same input sends nothing and marks its rows cached; another model sends every row; no key is stored', async () => {
    const root = await tempDir();
    const config = join(root, 'config.json');
    const input = join(root, 'in.jsonl');
    const cache = join(root, 'cache');
    await writeConfig(config, [
      { api_key: KEYS.good, base_url: sim.url },
      { api_key: KEYS.good2, base_url: sim.url },
    ]);
    const n = 200;
    await writeJsonl(
      input,
      Array.from({ length: n }, (_, k) => ({ id: `q${k}`, prompt: `cache question ${k}` })),
    );
    const run = (output: string, ...extra: string[]) =>
      cli(
        [
          'run',
          input,
          '-o',
          join(root, output),
          '-c',
          config,
          '-m',
          'gpt-4o-mini',
          '--cache',
          cache,
          ...extra,
        ],
        {
          cwd: root,
        },
      );

    let before = requests();
    expect((await run('first.jsonl', '--quiet')).code).toBe(0);
    expect(requests() - before).toBe(n);

    before = requests();
    const second = await run('second.jsonl');
    expect(second.code).toBe(0);
    expect(requests() - before).toBe(0);
    expect(second.stderr).toContain(`cached    ${n} (answered from the response cache, no cost)`);
    expect(second.stderr).toContain('  cost      $0\n');
    expect(second.stderr).toContain('  tokens    0 (prompt 0, completion 0)');
    const first = await readJsonl(join(root, 'first.jsonl'));
    const rows = await readJsonl(join(root, 'second.jsonl'));
    expect(rows.map((r) => r['cached'])).toEqual(Array(n).fill(true));
    expect(rows.map(({ cached: _, ...row }) => row)).toEqual(first);

    const status = await cli(['status', join(root, 'second.jsonl'), '--json'], { cwd: root });
    expect(JSON.parse(status.stdout)).toMatchObject({ done: n, cost: { knownUsd: 0 } });

    before = requests();
    expect((await run('other-model.jsonl', '-m', 'gpt-4o', '--quiet')).code).toBe(0);
    expect(requests() - before).toBe(n);

    const stats = await cli(['cache', 'stats', '--cache', cache, '--json'], { cwd: root });
    expect(JSON.parse(stats.stdout)).toMatchObject({ entries: 2 * n });
    const bytes = await allBytes(cache);
    for (const key of [KEYS.good, KEYS.good2]) expect(bytes.includes(Buffer.from(key))).toBe(false);
  }, 120_000);

  it('an error answer is never cached: it is asked again by the next output', async () => {
    const root = await tempDir();
    const config = join(root, 'config.json');
    const input = join(root, 'in.jsonl');
    const cache = join(root, 'cache');
    await writeConfig(config, [{ api_key: KEYS.good, base_url: sim.url }]);
    await writeJsonl(input, [{ prompt: 'fine' }, { prompt: 'too hot', temperature: 5 }]);
    const run = (output: string) =>
      cli(
        [
          'run',
          input,
          '-o',
          join(root, output),
          '-c',
          config,
          '-m',
          'gpt-4o-mini',
          '--cache',
          cache,
          '--quiet',
        ],
        {
          cwd: root,
        },
      );
    let before = requests();
    expect((await run('a.jsonl')).code).toBe(1);
    expect(requests() - before).toBe(2);
    before = requests();
    expect((await run('b.jsonl')).code).toBe(1);
    expect(requests() - before).toBe(1);
    const rows = await readJsonl(join(root, 'b.jsonl'));
    expect(rows[0]).toMatchObject({ cached: true, response: 'echo: fine' });
    expect(rows[1]).toMatchObject({ error: { status: 400 } });
    expect(rows[1]).not.toHaveProperty('cached');

    const pruned = await cli(['cache', 'prune', '--older-than', '30d', '--cache', cache, '--json'], {
      cwd: root,
    });
    expect(JSON.parse(pruned.stdout)).toMatchObject({ removed: 0, entries: 1 });
    const all = await cli(['cache', 'prune', '--older-than', '0s', '--cache', cache, '--json'], {
      cwd: root,
    });
    expect(JSON.parse(all.stdout)).toMatchObject({ removed: 1, entries: 0 });
    const bad = await cli(['cache', 'prune', '--older-than', 'a month', '--cache', cache], { cwd: root });
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe(
      'keybatch: --older-than: expected an age like 30d, 12h, 90m, 45s or 2w, got `a month`',
    );
  }, 120_000);
});
