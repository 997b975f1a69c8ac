/**
 * A task module for worker threads: `runPipeline(config, data, 'examples/worker-task.ts')` runs its
 * default export on piscina threads; `ctx.client` leases keys from the main thread's pool.
 */
import type { TaskContext } from '../src/index.js';

export default async function summarize(
  chunk: string[],
  ctx: TaskContext<{ model: string }>,
): Promise<string[]> {
  const out: string[] = [];
  for (const text of chunk) {
    const answer = await ctx.client.chat.completions.create(
      { model: ctx.args.model, messages: [{ role: 'user', content: `Summarize: ${text}` }] },
      { signal: ctx.signal },
    );
    out.push(answer.choices[0]?.message.content ?? '');
  }
  return out;
}
