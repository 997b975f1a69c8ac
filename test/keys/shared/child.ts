/**
 * One process of the shared-pool tests: runPrompts over `count` prompts on a pool shared through
 * Redis (or not, with `shared: false`), its output to `output`. Prints one JSON line at the end:
 * `{ summary, status }` (status: the pool's, redacted). Argument: one JSON object.
 */
import { KeyPool } from '../../../src/keys/key-pool.js';
import { runPrompts } from '../../../src/prompts/index.js';

interface Args {
  sim: string;
  keys: string[];
  redis?: string;
  namespace?: string;
  output: string;
  count: number;
  /** Names the prompts, so the processes' prompts differ. */
  tag: string;
  workers?: number;
  /** Open the pool, print `ready`, and start only on a line on stdin (processes that start together). */
  gate?: boolean;
}

const args = JSON.parse(process.argv[2]!) as Args;
const pool = await KeyPool.open(
  { key_list: args.keys.map((api_key) => ({ api_key, base_url: args.sim })) },
  {
    notify: false,
    env: {},
    shared: args.redis
      ? { url: args.redis, ...(args.namespace ? { namespace: args.namespace } : {}) }
      : false,
  },
);
if (args.gate) {
  process.stdout.write('ready\n');
  await new Promise((resolve) => process.stdin.once('data', resolve));
  process.stdin.pause();
}
const prompts = Array.from({ length: args.count }, (_, id) => ({ id, prompt: `${args.tag} prompt ${id}` }));
const summary = await runPrompts(pool, prompts, {
  model: 'gpt-4o-mini',
  output: args.output,
  workers: args.workers ?? 4,
  handleSignals: false,
});
const status = pool.status();
await pool.close();
process.stdout.write(`${JSON.stringify({ summary, status })}\n`);
