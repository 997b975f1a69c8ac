/**
 * 5. Reload latency. Every key of the pool is spent (simulator quota), a request is blocked
 * waiting, then config.json is edited the way editors save (write a temporary file, rename it over
 * the original) to add a key. Figure: time from the rename to the simulator receiving the blocked
 * request on the new key (the simulator's own receive time; same machine clock), over N trials.
 *
 * Each trial's new key has a quota of one request: it serves the blocked request, and the next
 * trial's request spends it, which blocks the pool again.
 */
import { once } from 'node:events';
import { renameSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { BenchContext, Benchmark } from './lib/bench.js';
import { loadKeybatch } from './lib/keybatch.js';
import { spawnSimulator } from './lib/sim-process.js';
import { median, percentile } from './lib/stats.js';
import { ms, num, table, verdict } from './lib/table.js';

const P95_TARGET_MS = 500;
const MODEL = 'gpt-4o-mini';
/** A blocked request that is not served within this long fails the benchmark instead of hanging. */
const TRIAL_TIMEOUT_MS = 30_000;

const spentKey = 'sk-bench-reload-spent-0000';
const newKey = (t: number) => `sk-bench-reload-added-${String(t).padStart(4, '0')}`;

export const reload: Benchmark = {
  name: 'reload',
  title: '5. Reload latency',
  async run(ctx: BenchContext): Promise<string> {
    const trials = ctx.number('trials', 20, 5);
    const { KeyPool, createClient, redactKey, silentLogger } = await loadKeybatch();
    const sim = await spawnSimulator({
      keys: [
        { key: spentKey, quota: 0 },
        ...Array.from({ length: trials }, (_, t) => ({ key: newKey(t + 1), quota: 1 })),
      ],
    });
    const dir = await mkdtemp(join(tmpdir(), 'keybatch-bench-reload-'));
    const config = join(dir, 'config.json');
    const keys = [spentKey];
    const save = async (temp: string) => {
      await writeFile(
        temp,
        JSON.stringify({ key_list: keys.map((api_key) => ({ api_key, base_url: sim.url })) }, null, 2),
      );
    };
    await save(config);
    const pool = await KeyPool.open(config, { notify: false, logger: silentLogger });
    const client = createClient(pool);
    const latencies: number[] = [];
    try {
      for (let t = 1; t <= trials; t++) {
        const signal = AbortSignal.timeout(TRIAL_TIMEOUT_MS);
        const blocked = pool.blocked ? Promise.resolve() : once(pool, 'blocked', { signal });
        const answer = client.chat.completions.create(
          { model: MODEL, messages: [{ role: 'user', content: `reload trial ${t}` }] },
          { signal },
        );
        await blocked;
        // A random moment while blocked, so the edit does not line up with any timer.
        await delay(50 + Math.random() * 150);
        keys.push(newKey(t));
        const temp = join(dir, `.config.json.tmp-${t}`);
        await save(temp);
        renameSync(temp, config);
        const renamedAt = Date.now();
        await answer;
        const label = redactKey(newKey(t));
        const seen = (await sim.requests()).find((r) => r.key === label);
        if (!seen) throw new Error(`trial ${t}: the simulator saw no request on the new key`);
        latencies.push(seen.time - renamedAt);
        ctx.log(`reload: trial ${t}: ${seen.time - renamedAt} ms`);
      }
    } finally {
      await pool.close();
      await sim.close();
      await rm(dir, { recursive: true, force: true });
    }
    const p50 = median(latencies);
    const p95 = percentile(latencies, 95);
    return [
      `${trials} trials. The pool watches config.json (chokidar); all its keys are spent, one request waits; ` +
        'the edit writes a temporary file in the same directory and renames it over config.json. Latency = the ' +
        "simulator's receive time of that request on the new key − the time the rename returned. Simulator in a child process.",
      '',
      table(
        ['trials', 'min', 'p50', 'p95', 'max'],
        [[String(trials), ms(Math.min(...latencies)), ms(p50), ms(p95), ms(Math.max(...latencies))]],
      ),
      '',
      `All trials: ${latencies.map((l) => num(l)).join(', ')} ms.`,
      '',
      `p95 ${ms(p95)} (target <= ${ms(P95_TARGET_MS)}: ${verdict(p95 <= P95_TARGET_MS)}).`,
    ].join('\n');
  },
};
