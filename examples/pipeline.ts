/**
 * runPipeline end to end, without real keys: starts the embedded simulator, then labels 200
 * records in chunks of 10 on 4 lanes, checkpointing to `out/labels.jsonl.keybatch/`.
 * Kill it half way (Ctrl-C, or kill -9) and run it again: it resumes where it stopped.
 *
 *   npx tsx examples/pipeline.ts
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { runPipeline, startSimulator, type TaskContext } from '../src/index.js';

interface Review {
  id: number;
  text: string;
}

interface Label {
  id: number;
  label: string | null;
}

const sim = await startSimulator({
  keys: [{ key: 'sk-example-1111' }, { key: 'sk-example-2222' }],
  latencyMs: 20,
});
await mkdir('out', { recursive: true });
const input = 'out/reviews.jsonl';
const reviews = Array.from({ length: 200 }, (_, id): Review => ({ id, text: `review number ${id}` }));
await writeFile(input, reviews.map((r) => JSON.stringify(r)).join('\n') + '\n');

// The config.json format, given as an object here; a path to config.json works the same.
const config = {
  key_list: [
    { api_key: 'sk-example-1111', base_url: sim.url },
    { api_key: 'sk-example-2222', base_url: sim.url },
  ],
};

const instruction = 'Answer with one word: positive, negative or neutral.';

async function label(chunk: Review[], ctx: TaskContext): Promise<Label[]> {
  // One request per item, concurrently; ctx.client leases a key for each.
  return Promise.all(
    chunk.map(async (review) => {
      const answer = await ctx.client.chat.completions.create(
        {
          model: 'gpt-4o-mini',
          messages: [
            { role: 'system', content: instruction },
            { role: 'user', content: review.text },
          ],
        },
        { signal: ctx.signal },
      );
      return { id: review.id, label: answer.choices[0]?.message.content ?? null };
    }),
  );
}

const { stats } = await runPipeline(config, input, label, {
  output: 'out/labels.jsonl',
  workers: 4,
  chunkSize: 10,
  onProgress: (p) => console.log(`${p.done + p.skipped}/${p.total} done, ${p.rate.toFixed(1)}/s`),
});
console.log(`done ${stats.done}, skipped ${stats.skipped}, failed ${stats.failed}: see ${stats.output}`);
await sim.close();
