/**
 * Redis killed (SIGKILL, it comes back empty) in the middle of three processes' runs on a shared
 * pool, then restarted: each process says so in one line, goes on with its own state, re-syncs
 * when Redis is back, and every run completes with each item exactly once.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startSimulator } from '../../../src/sim/index.js';
import { until, useCleanup, useTempDir } from '../../helpers.js';
import { useRedis } from '../../redis.js';
import { outputIds, runChildren, startChild } from './children.js';

const redis = useRedis();
const cleanup = useCleanup();
const tempDir = useTempDir();

const KEYS = ['sk-lost-shared-key-AA11', 'sk-lost-shared-key-BB22'];
const COUNT = 150;

describe('Redis lost in the middle of a shared run', () => {
  it('killed and restarted: every run completes, each item exactly once, one line each way', {
    timeout: 180_000,
  }, async () => {
    const specs = KEYS.map((key) => ({ key, requestsPerWindow: 20, windowMs: 1000 }));
    const sim = cleanup(await startSimulator({ keys: specs, latencyMs: 20 }));
    const dir = await tempDir();
    const outputs = [0, 1, 2].map((i) => join(dir, `out-${i}.jsonl`));
    const children = outputs.map((output, i) =>
      startChild({
        sim: sim.url,
        keys: KEYS,
        redis: redis().url,
        namespace: 'lost',
        output,
        count: COUNT,
        tag: `child ${i}`,
      }),
    );
    await until(() => sim.stats().successes >= 60, 90_000, 'the children to get going');
    await redis().kill();
    const down = sim.stats().successes;
    // The runs go on without Redis ...
    await until(() => sim.stats().successes >= down + 40, 90_000, 'progress while Redis is down');
    await until(() => children.every((child) => /lost Redis at/.test(child.err())), 30_000, 'the warnings');
    await redis().restart();
    await until(
      () => children.every((child) => /is back: the key pool is shared again/.test(child.err())),
      60_000,
      'the re-syncs',
    );
    const results = await runChildren(children);
    for (const [i, output] of outputs.entries()) {
      expect(results[i]!.summary.done).toBe(COUNT);
      expect(await outputIds(output)).toEqual(Array.from({ length: COUNT }, (_, id) => id));
      expect(results[i]!.status.shared?.connected).toBe(true);
      const err = children[i]!.err();
      expect(err.match(/lost Redis at/g)).toHaveLength(1);
      expect(err).toMatch(
        /keybatch: lost Redis at redis:\/\/127\.0\.0\.1:\d+ \([^)]*\): going on with this process's own key pool state; reconnecting/,
      );
    }
    // ... and share again once it is back: the namespace's state is there again.
    const names = (await redis().dump()).map((entry) => entry.key);
    expect(names).toContain('keybatch:pool:lost:salt');
    expect(names.filter((name) => name.startsWith('keybatch:pool:lost:key:'))).toHaveLength(2);
  });
});
