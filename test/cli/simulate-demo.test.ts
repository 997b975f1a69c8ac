import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { until } from '../helpers.js';
import { allText, cli, expectNoFullKey, readJsonl, startCli, tempDirs } from './helpers.js';

const tempDir = tempDirs();

describe.concurrent('keybatch simulate', () => {
  it('serves a scenario, prints only a config.json for it on stdout, its URL and stats on Ctrl-C on stderr', async () => {
    const dir = await tempDir();
    const scenario = join(dir, 'scenario.json');
    await writeFile(scenario, JSON.stringify({ keys: [{ key: 'sk-sim-scenario-key-7001', quota: 5 }] }));
    const written = join(dir, 'written-config.json');
    const sim = startCli(['simulate', '--port', '0', '--scenario', scenario, '--write-config', written], {
      cwd: dir,
    });
    await until(
      () => sim.stderr().includes('Ctrl-C to stop.') && sim.stdout().endsWith('}\n'),
      20_000,
      'the simulator to start',
    );
    const url = /listening on (\S+)/.exec(sim.stderr())?.[1];
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    // Stdout is the config alone: `keybatch simulate > config.json` works.
    const config = { key_list: [{ api_key: 'sk-sim-scenario-key-7001', base_url: url }] };
    expect(JSON.parse(sim.stdout())).toEqual(config);
    expect(JSON.parse(await readFile(written, 'utf8'))).toEqual(config);
    expect(sim.stderr()).toContain(`config.json for it written to ${written}`);

    const answer = await fetch(`${url}/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-sim-scenario-key-7001', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello sim' }] }),
    });
    expect(
      ((await answer.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]?.message
        .content,
    ).toBe('echo: hello sim');
    sim.proc.kill('SIGINT');
    const result = await sim.done;
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('simulator stopped:');
    expect(result.stderr).toContain('requests 1, successes 1');
    expect(JSON.parse(result.stdout)).toEqual(config);
  });

  it('--batch-day shortens the Batch API day: a --batch run on the simulator finishes in seconds', async () => {
    const dir = await tempDir();
    const config = join(dir, 'config.json');
    const sim = startCli(['simulate', '--port', '0', '--batch-day', '4', '--write-config', config], {
      cwd: dir,
    });
    try {
      await until(() => sim.stderr().includes('Ctrl-C to stop.'), 20_000, 'the simulator to start');
      const input = join(dir, 'in.jsonl');
      await writeFile(input, ['one', 'two', 'three'].map((p) => JSON.stringify({ prompt: p })).join('\n'));
      const output = join(dir, 'out.jsonl');
      const run = await cli(
        ['run', input, '-o', output, '-c', config, '-m', 'gpt-4o-mini', '--batch', '--poll-interval', '0.5'],
        { cwd: dir },
      );
      expect(run.code, run.stderr).toBe(0);
      expect((await readJsonl(output)).map((row) => row['response'])).toEqual([
        'echo: one',
        'echo: two',
        'echo: three',
      ]);
    } finally {
      sim.proc.kill('SIGINT');
      await sim.done;
    }
  }, 90_000);

  it('refuses an invalid scenario with exit 2, naming the file and the option', async () => {
    const dir = await tempDir();
    const scenario = join(dir, 'bad.json');
    await writeFile(scenario, JSON.stringify({ keys: [{ key: 'sk-sim-scenario-key-7002', quota: -1 }] }));
    const broken = join(dir, 'broken.json');
    await writeFile(broken, '{"keys": [');
    const [bad, unparsable] = await Promise.all([
      cli(['simulate', '--scenario', scenario], { cwd: dir }),
      cli(['simulate', '--scenario', broken], { cwd: dir }),
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe(
      `keybatch: ${scenario}: Simulator option \`keys[0].quota\` must be an integer >= 0, got \`-1\` (number)\n`,
    );
    expect(unparsable.code).toBe(2);
    expect(unparsable.stderr).toMatch(
      new RegExp(`^keybatch: ${broken.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not valid JSON`),
    );
  });
});

describe('keybatch demo', () => {
  it('runs on the embedded simulator, stops at about 40%, resumes, and exits 0', async () => {
    const dir = await tempDir();
    const result = await cli(['demo'], { cwd: dir });
    expect(result.code).toBe(0);
    const demo = join(dir, '.keybatch-demo');
    const keys = (
      JSON.parse(await readFile(join(demo, 'config.json'), 'utf8')) as {
        key_list: Array<{ api_key: string }>;
      }
    ).key_list.map((entry) => entry.api_key);
    expect(keys).toHaveLength(4);
    expectNoFullKey(result.stdout + result.stderr, keys);
    expectNoFullKey(await allText(demo), keys);

    expect(result.stderr).toContain('run 1 stopped');
    expect(result.stderr).toMatch(/skipped +\d+ \(already in the checkpoint/);
    expect(result.stderr).toMatch(/invalid +\d+ +0 /);
    expect(result.stderr).toMatch(/exhausted +\d+ +\d+ /);
    const rows = await readJsonl(join(demo, 'output.jsonl'));
    expect(rows).toHaveLength(300);
    expect(rows.map((row) => row['id'])).toEqual(rows.map((_, i) => `q${String(i + 1).padStart(3, '0')}`));
    expect(rows.filter((row) => row['error'])).toHaveLength(4);
  });
});
