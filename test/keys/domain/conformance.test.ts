/**
 * The in-memory store and the Redis store (the law's Lua, on a real redis-server) make the same
 * decisions: random traces of open/reserve/answer/cancel/pause/unpause over a fake clock, on 1–3 domains,
 * with answers served, refused (429, 503) and failed (500, 503), with and without headers of every
 * dialect and every retry-after form, are replayed through both; every reservation, verdict and
 * status is compared. A fresh seed each run, printed; `CONFORMANCE_SEED=<n>` replays it.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../../src/keys/domain/redis-store.js';
import { MemoryStore } from '../../../src/keys/domain/store.js';
import { useRedis } from '../../redis.js';
import { type Mismatch, Trace, type TraceCounts } from './trace.js';

const TRACES = 200;
const STEPS = 200;
/** Traces run this many at a time, so Redis round trips overlap (each trace is still sequential). */
const PARALLEL = 16;

function seedOf(env: NodeJS.ProcessEnv): number {
  const given = Number(env['CONFORMANCE_SEED']);
  return Number.isInteger(given) && given > 0 ? given : 1 + Math.floor(Math.random() * 2 ** 31);
}

function describeMismatch(seed: number, trace: number, m: Mismatch): string {
  return [
    `trace ${trace} (seed ${seed + trace}) step ${m.step} at now=${m.now}: ${m.what} differs`,
    `  action:   ${JSON.stringify(m.action)}`,
    `  memory:   ${JSON.stringify(m.expected)}`,
    `  redis:    ${JSON.stringify(m.got)}`,
    `  replay: CONFORMANCE_SEED=${seed} npx vitest run test/keys/domain/conformance.test.ts`,
  ].join('\n');
}

describe('the Redis store runs the law as the in-memory store does', () => {
  const redis = useRedis();
  let client: Redis;
  let second: Redis;
  beforeAll(async () => {
    client = new Redis(redis().url, { maxRetriesPerRequest: 1 });
    second = new Redis(redis().url, { maxRetriesPerRequest: 1 });
    await Promise.all([client.ping(), second.ping()]);
  });
  afterAll(() => {
    client?.disconnect();
    second?.disconnect();
  });

  it(`makes the same decisions on ${TRACES} random traces of ${STEPS} steps, from one process or two`, async () => {
    const seed = seedOf(process.env);
    console.log(`conformance: CONFORMANCE_SEED=${seed} (${TRACES} traces × ${STEPS} steps)`);
    const store = new RedisStore(client, { clock: 'caller', namespace: `conformance-${seed}` });
    // A second process: its own connection and store on the same namespace.
    const other = new RedisStore(second, { clock: 'caller', namespace: `conformance-${seed}` });
    const totals: TraceCounts = { steps: 0, seq: 0, wait: 0, full: 0, served: 0, refused: 0, error: 0 };
    const failures: string[] = [];
    const started = Date.now();
    let next = 0;
    const lane = async () => {
      for (let i = next++; i < TRACES && failures.length === 0; i = next++) {
        // Odd traces spread their calls over the two processes: the state is all in Redis.
        const trace = new Trace(seed + i, `t${i}`, new MemoryStore(), i % 2 ? [store, other] : store);
        const mismatch = await trace.run(STEPS);
        if (mismatch) failures.push(describeMismatch(seed, i, mismatch));
        for (const [k, v] of Object.entries(trace.counts)) totals[k as keyof TraceCounts] += v;
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, lane));
    const seconds = (Date.now() - started) / 1000;
    console.log(
      `conformance: ${totals.steps} steps in ${seconds.toFixed(1)} s: reservations ${totals.seq} sent, ` +
        `${totals.wait} waits, ${totals.full} full; answers ${totals.served} served, ` +
        `${totals.refused} refused, ${totals.error} errors`,
    );
    expect(failures, failures.join('\n')).toEqual([]);
    // The traces reach every kind of decision (a trace generator that drifted would not).
    for (const kind of ['seq', 'wait', 'full', 'served', 'refused', 'error'] as const)
      expect(totals[kind], kind).toBeGreaterThan(TRACES);
  }, 120_000);
});
