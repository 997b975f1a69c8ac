/**
 * runPrompts on the embedded simulator: three record shapes in, one row per record out, in order.
 *
 *   npx tsx examples/prompts.ts
 */
import { mkdir, readFile } from 'node:fs/promises';
import { runPrompts, startSimulator } from '../src/index.js';

const sim = await startSimulator({ keys: [{ key: 'sk-example-4444' }], latencyMs: 10 });
const config = { key_list: [{ api_key: 'sk-example-4444', base_url: sim.url }] };
await mkdir('out', { recursive: true });

const summary = await runPrompts(
  config,
  [
    { id: 1, system: 'You are terse.', prompt: 'Name a prime.' },
    { id: 'b', messages: [{ role: 'user', content: 'Hi' }] },
    {
      custom_id: 'req-7',
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] },
    },
    { id: 4, prompt: 'This one is refused [[sim:400]]' },
  ],
  { model: 'gpt-4o-mini', output: 'out/answers.jsonl', params: { temperature: 0 } },
);
console.log(await readFile('out/answers.jsonl', 'utf8'));
console.log(`done ${summary.done}, failed ${summary.failed}, tokens ${summary.tokens.total}`);
await sim.close();
