/**
 * runPipeline on worker threads: the task is a module (examples/worker-task.ts), not a function.
 *
 *   npx tsx examples/threads.ts
 */
import { runPipeline, startSimulator } from '../src/index.js';

const sim = await startSimulator({ keys: [{ key: 'sk-example-3333' }], latencyMs: 10 });
const config = { key_list: [{ api_key: 'sk-example-3333', base_url: sim.url }] };
const texts = Array.from({ length: 60 }, (_, i) => `document ${i}`);

const { results, stats } = await runPipeline(config, texts, new URL('./worker-task.ts', import.meta.url), {
  workers: 2,
  chunkSize: 5,
  args: { model: 'gpt-4o-mini' },
});
console.log(results.slice(0, 3), `… ${stats.done} done in ${stats.durationMs} ms`);
await sim.close();
