/**
 * The README's pattern, `Promise.all(chunk.map(… { signal: ctx.signal }))`, with a 50-item chunk:
 * no MaxListenersExceededWarning, in-process or on worker threads (the SDK adds a listener per
 * request to the signal keybatch gives the chunk).
 */
import { describe, expect, it } from 'vitest';
import { runPipeline } from '../../src/pipeline/pipeline.js';
import { startSimulator } from '../../src/sim/index.js';
import type { TaskFunction } from '../../src/workers/types.js';
import { collectingLogger, useCleanup } from '../helpers.js';

const cleanup = useCleanup();
const KEY = 'sk-test-listeners-0001';
const CHUNK = 50;

async function setup() {
  const sim = cleanup(await startSimulator({ keys: [{ key: KEY }] }));
  return { key_list: [{ api_key: KEY, base_url: sim.url }] };
}

const options = {
  handleSignals: false,
  logger: collectingLogger(),
  pool: { notify: false, watch: false },
  chunkSize: CHUNK,
  concurrency: 1,
  workers: 1,
} as const;

describe('listeners on the signal of a chunk', () => {
  it('in-process: a 50-item chunk sent all at once emits no warning', async () => {
    const config = await setup();
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      const task: TaskFunction<number, string | null | undefined> = async (chunk, ctx) => {
        const answers = await Promise.all(
          chunk.map((item) =>
            ctx.client.chat.completions.create(
              { model: 'gpt-4o-mini', messages: [{ role: 'user', content: String(item) }] },
              { signal: ctx.signal },
            ),
          ),
        );
        return answers.map((answer) => answer.choices[0]?.message.content);
      };
      const data = Array.from({ length: CHUNK }, (_, i) => i);
      const { results } = await runPipeline(config, data, task, options);
      expect(results).toHaveLength(CHUNK);
      // A warning is emitted on the next tick: let one pass.
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('on a worker thread: a 50-item chunk sent all at once emits no warning', async () => {
    const config = await setup();
    const data = Array.from({ length: CHUNK * 2 }, (_, i) => i);
    const { results } = await runPipeline<number, { text: string; warnings: string[] }>(
      config,
      data,
      new URL('./fixtures/all-at-once-task.mjs', import.meta.url),
      options,
    );
    expect(results).toHaveLength(CHUNK * 2);
    // The second chunk's results carry what the first chunk's requests emitted.
    expect(results.flatMap((r) => r.warnings)).toEqual([]);
  });
});
