/**
 * One side of the engine-overhead benchmark, alone in this process, on the built library:
 *
 *   node bench/children/overhead-side.mjs <keybatch|pool|bare|undici> <simulator URL> <requests> <output.jsonl>
 *
 * Prints one JSON line: { ms, cpuMs, peakRss }.
 */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import OpenAI from 'openai';
import pLimit from 'p-limit';
import { request } from 'undici';

/** @type {typeof import('../../dist/index.js')} */
const { createClient, KeyPool, runPrompts, silentLogger } = await import(
  process.env.KEYBATCH_DIST ?? '../../dist/index.js'
);

const KEY = 'sk-bench-overhead-key-0001';
const MODEL = 'gpt-4o-mini';
const IN_FLIGHT = 32;

const [side, url, count, output] = process.argv.slice(2);
const n = Number(count);
if (!url || !output || !(n > 0))
  throw new Error('usage: overhead-side.mjs <keybatch|pool|bare|undici> <url> <requests> <output>');
const prompts = Array.from({ length: n }, (_, i) => ({ id: i, prompt: `overhead bench prompt ${i}` }));

/** runPrompts, 4 lanes × 8 = 32 in flight, output file + checkpoint. */
async function keybatch() {
  await runPrompts({ key_list: [{ api_key: KEY, base_url: url }] }, prompts, {
    model: MODEL,
    output,
    workers: 4,
    concurrency: IN_FLIGHT / 4,
    handleSignals: false,
    logger: silentLogger,
    pool: { notify: false },
  });
}

/** The loop a user would write: the SDK, p-limit(32), one JSON line appended per answer. */
function bare() {
  return loop(new OpenAI({ apiKey: KEY, baseURL: url, maxRetries: 0 }));
}

/**
 * The bare loop with the SDK's fetch swapped for undici's `request` (keybatch's transport, in the
 * fewest lines): keybatch against this is the key pool's and the engine's cost on equal transport.
 * @type {typeof fetch}
 */
async function undiciFetch(url, init = {}) {
  const headers = {};
  for (const [name, value] of /** @type {Headers} */ (init.headers)) headers[name] = value;
  const sent = await request(String(url), {
    method: /** @type {any} */ (init.method),
    headers,
    body: /** @type {string} */ (init.body),
    signal: init.signal ?? undefined,
  });
  const answer = new Headers();
  for (const [name, value] of Object.entries(sent.headers))
    if (typeof value === 'string') answer.append(name, value);
  return new Response(await sent.body.text(), { status: sent.statusCode, headers: answer });
}

function undici() {
  return loop(new OpenAI({ apiKey: KEY, baseURL: url, maxRetries: 0, fetch: undiciFetch }));
}

/** The same loop on keybatch's pool-aware client (no engine, no checkpoint): where the overhead sits. */
async function pool() {
  const keys = await KeyPool.open(
    { key_list: [{ api_key: KEY, base_url: url }] },
    { notify: false, logger: silentLogger },
  );
  try {
    await loop(createClient(keys));
  } finally {
    await keys.close();
  }
}

/** @param {OpenAI} client */
async function loop(client) {
  const limit = pLimit(IN_FLIGHT);
  const out = createWriteStream(output, { flags: 'a' });
  await Promise.all(
    prompts.map((record) =>
      limit(async () => {
        const answer = await client.chat.completions.create({
          model: MODEL,
          messages: [{ role: 'user', content: record.prompt }],
        });
        const choice = answer.choices[0];
        const line = {
          id: record.id,
          prompt: record.prompt,
          response: choice?.message.content,
          model: answer.model,
          usage: answer.usage,
          finish_reason: choice?.finish_reason,
        };
        out.write(`${JSON.stringify(line)}\n`);
      }),
    ),
  );
  out.end();
  await once(out, 'finish');
}

const run = { keybatch, pool, bare, undici }[/** @type {'keybatch' | 'pool' | 'bare' | 'undici'} */ (side)];
if (!run) throw new Error(`unknown side ${side}`);
const cpu = process.cpuUsage();
const started = performance.now();
await run();
const ms = performance.now() - started;
const used = process.cpuUsage(cpu);
process.stdout.write(
  `${JSON.stringify({ ms, cpuMs: (used.user + used.system) / 1000, peakRss: process.resourceUsage().maxRSS * 1024 })}\n`,
);
