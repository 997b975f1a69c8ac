/**
 * A local OpenAI-compatible simulator over real HTTP, for tests, the demo and benchmarks: per-key
 * quotas, request/token rate limits with real `x-ratelimit-*` headers, latency, injected faults,
 * deterministic answers and triggers (see `triggers.ts`).
 *
 * ```ts
 * const sim = await startSimulator({ keys: [{ key: 'sk-test-0001', requestsPerWindow: 60 }] });
 * const client = new OpenAI({ apiKey: 'sk-test-0001', baseURL: sim.url, maxRetries: 0 });
 * await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
 * await sim.close();
 * ```
 */
import { SimCore } from './handler.js';
import { resolveFault, resolveKeys, resolveSimulatorOptions } from './options.js';
import { startServer } from './server.js';
import type { SimFault, SimKeySpec, Simulator, SimulatorOptions } from './types.js';

/**
 * Starts the simulator on 127.0.0.1. Invalid options are refused up front with an `InputError`
 * naming the option (a key only ever redacted).
 */
export async function startSimulator(options: SimulatorOptions): Promise<Simulator> {
  const resolved = resolveSimulatorOptions(options);
  const core = new SimCore(resolved);
  const server = await startServer(core, resolved.port);
  return Object.freeze({
    url: `http://127.0.0.1:${server.port}/v1`,
    port: server.port,
    stats: () => core.snapshot(),
    setKeys: (keys: SimKeySpec[]) => core.keys.replace(resolveKeys(keys, resolved.keyDefaults)),
    inject: (fault: SimFault) => core.faults.push(resolveFault(fault)),
    requests: () => core.log.list(),
    resetStats: () => {
      core.stats.reset();
      core.log.clear();
    },
    close: () => server.close(),
  });
}

export { KNOWN_MODELS, SIMULATOR_DEFAULTS } from './options.js';
export { formatResetDuration } from './rate-limit.js';
export type {
  RecordedRequest,
  SimBatchOptions,
  SimFault,
  SimKeySpec,
  SimKeyStats,
  SimObjectStats,
  SimRandomFaults,
  SimStats,
  SimStructuredOptions,
  Simulator,
  SimulatorOptions,
} from './types.js';
