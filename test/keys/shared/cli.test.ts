/**
 * The real `keybatch` command with a shared pool: `run --redis` shares the run's pool, `keys
 * --redis` and `status --redis` show each key as every process knows it, and Redis unreachable at
 * start (flag or KEYBATCH_REDIS) is one clear line and exit 2.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startSimulator } from '../../../src/sim/index.js';
import { cli, expectNoFullKey, readJsonl, tempDirs, writeConfig, writeJsonl } from '../../cli/helpers.js';
import { useCleanup } from '../../helpers.js';
import { useRedis } from '../../redis.js';

const redis = useRedis();
const cleanup = useCleanup();
const tempDir = tempDirs();
const GOOD = 'sk-test-cli-shared-good-6001';
const BAD = 'sk-test-cli-shared-bad-6002';

describe('keybatch with --redis', () => {
  it('run shares its pool; keys and status show what every process found', { timeout: 120_000 }, async () => {
    const sim = cleanup(await startSimulator({ keys: [{ key: GOOD }] }));
    const dir = await tempDir();
    await writeConfig(join(dir, 'config.json'), [
      { api_key: BAD, base_url: sim.url },
      { api_key: GOOD, base_url: sim.url },
    ]);
    await writeJsonl(join(dir, 'in.jsonl'), [{ prompt: 'a' }, { prompt: 'b' }, { prompt: 'c' }]);
    const run = await cli(
      ['run', 'in.jsonl', '-o', 'out.jsonl', '-m', 'gpt-4o-mini', '--redis', redis().url, '--quiet'],
      {
        cwd: dir,
      },
    );
    expect(run.code, run.stderr).toBe(0);
    expect(await readJsonl(join(dir, 'out.jsonl'))).toHaveLength(3);

    const keys = await cli(['keys', '--redis', redis().url], { cwd: dir });
    expect(keys.code, keys.stderr).toBe(0);
    expect(keys.stdout).toContain(`shared pool: ${redis().url}, namespace default`);
    // Answered 401 once or twice: two lanes may both have had it in flight before the first 401.
    expect(keys.stdout).toMatch(/sk-…6002 +invalid +([12]) +0 +invalid \1/);
    expect(keys.stdout).toMatch(/sk-…6001 +ready +3 +3 /);
    expectNoFullKey(keys.stdout + keys.stderr, [GOOD, BAD]);

    const status = await cli(['status', 'out.jsonl', '--json'], {
      cwd: dir,
      env: { KEYBATCH_REDIS: redis().url },
    });
    expect(status.code, status.stderr).toBe(0);
    const report = JSON.parse(status.stdout) as {
      sharedPool: { shared: { connected: boolean }; keys: Array<{ state: string }> };
    };
    expect(report.sharedPool.shared.connected).toBe(true);
    expect(report.sharedPool.keys.map((key) => key.state)).toEqual(['invalid', 'ready']);
  });

  it('Redis unreachable at start: one clear line, exit 2 (run --redis, keys with KEYBATCH_REDIS)', {
    timeout: 60_000,
  }, async () => {
    const dir = await tempDir();
    await writeConfig(join(dir, 'config.json'), [{ api_key: GOOD, base_url: 'http://127.0.0.1:9/v1' }]);
    await writeJsonl(join(dir, 'in.jsonl'), [{ prompt: 'a' }]);
    const url = 'redis://:s3cretpass@127.0.0.1:1';
    const run = await cli(['run', 'in.jsonl', '-o', 'out.jsonl', '-m', 'gpt-4o-mini', '--redis', url], {
      cwd: dir,
    });
    const keys = await cli(['keys'], { cwd: dir, env: { KEYBATCH_REDIS: url } });
    for (const result of [run, keys]) {
      expect(result.code).toBe(2);
      const lines = result.stderr.trim().split('\n');
      expect(lines).toEqual([
        expect.stringMatching(
          /^keybatch: cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1 .*ECONNREFUSED/,
        ),
      ]);
      expect(result.stderr).not.toContain('s3cretpass');
    }
  });
});
