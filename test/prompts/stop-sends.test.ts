/**
 * The first stop of a prompt run sends nothing more: requests waiting for a pacer slot (not on the
 * wire) are not sent; the ones in flight finish and are kept. Counted at the server.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AbortError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { runPrompts } from '../../src/prompts/run-prompts.js';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { until, useTempDir } from '../helpers.js';

const KEY = 'sk-test-stop-sends-key-0001';
const tempDir = useTempDir();
let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

describe('a prompt run stopped on a slow key', () => {
  it('sends nothing after the stop but what was already in flight; what was answered is kept', async () => {
    sim = await startSimulator({ keys: [{ key: KEY }], latencyMs: 100 });
    const dir = await tempDir();
    const stop = new AbortController();
    // 60 requests a minute: the pacer sends one a second, the other lanes wait for their slot.
    const config = { key_list: [{ api_key: KEY, base_url: sim.url, rpm: 60 }] };
    const prompts = Array.from({ length: 25 }, (_, i) => ({ id: i, prompt: `slow key prompt ${i}` }));
    const run = runPrompts(config, prompts, {
      model: 'gpt-4o-mini',
      output: join(dir, 'out.jsonl'),
      concurrency: 8,
      stopSignal: stop.signal,
      handleSignals: false,
      logger: silentLogger,
      pool: { watch: false, notify: false },
    });
    const simulator = sim;
    await until(() => simulator.stats().successes >= 2, 30_000, 'two answers');
    const { requests, successes } = simulator.stats();
    const inFlight = requests - successes;
    stop.abort();
    const error = (await run.catch((e: unknown) => e)) as AbortError & { stats: { done: number } };
    expect(error).toBeInstanceOf(AbortError);
    // What reached the server after the stop is at most what was on the wire at that moment.
    expect(simulator.stats().requests - requests).toBeLessThanOrEqual(inFlight);
    expect(error.stats.done).toBe(simulator.stats().successes);
  }, 60_000);
});
