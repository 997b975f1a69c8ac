/**
 * One process of one side of the rate-limit benchmark (bench/ratelimit.ts), on the built library:
 *
 *   node bench/children/ratelimit-side.mjs '<json args>'      (forked with an IPC channel)
 *
 * Sides: `keybatch` (a KeyPool, shared through Redis when `redis` is given, a pool-aware client per
 * lane), `bare` (the openai SDK with its default retries under p-limit: what users write), and
 * `bottleneck` (the SDK under one Bottleneck per key told the true limit: `minTime`, and for a
 * slot-bound server `maxConcurrent`). Each lane takes the next request until `count` requests were
 * taken (this process's share) or the deadline passes. Protocol: the child sends `ready`; the
 * parent answers `{ deadline }`; the child sends `{ ok, failed, finishedAt }` and exits.
 */
import Bottleneck from 'bottleneck';
import OpenAI from 'openai';
import pLimit from 'p-limit';

/**
 * @typedef {{
 *   side: 'keybatch' | 'bare' | 'bottleneck', dist: string, baseURL: string, keys: string[],
 *   lanes: number, count?: number, redis?: string, namespace: string,
 *   minTimeMs?: number, maxConcurrent?: number,
 * }} SideArgs
 */

/** @type {SideArgs} */
const args = JSON.parse(process.argv[2] ?? '{}');
const MODEL = 'gpt-4o-mini';

/**
 * Aborted at the deadline: a request still waiting then (for a key, a retry, a slot) is cut, not
 * counted. Each request has a signal of its own, aborted from here (`inFlight`): one signal shared by
 * every request would collect a listener per request it was passed to (the SDK, the pool), O(n²)
 * over a 100,000-request row.
 */
const stop = new AbortController();
/** @type {Set<AbortController>} */
const inFlight = new Set();
stop.signal.addEventListener('abort', () => {
  for (const request of inFlight) request.abort();
});

/**
 * One prompt for every request: the simulator's stats keep a count per distinct prompt, and the
 * benchmark reads them twice a second, so 100,000 distinct prompts would cost it more than the row.
 */
const BODY = {
  model: MODEL,
  messages: [{ role: 'user', content: `rate-limit bench ${args.side}` }],
  max_tokens: 16,
};
const body = (/** @type {number} */ _n) => BODY;

/** Runs request `n` with a signal of its own, aborted at the deadline, forgotten when it settles. */
async function run(/** @type {number} */ lane, /** @type {number} */ n) {
  const request = new AbortController();
  if (stop.signal.aborted) request.abort();
  inFlight.add(request);
  try {
    return await call(lane, n, request.signal);
  } finally {
    inFlight.delete(request);
  }
}

/** One call per lane and request: resolves true when answered, false when it failed for good. */
async function makeCall() {
  if (args.side === 'keybatch') {
    /** @type {typeof import('../../dist/index.js')} */
    const lib = await import(args.dist);
    const pool = await lib.KeyPool.open(
      { key_list: args.keys.map((api_key) => ({ api_key, base_url: args.baseURL })) },
      {
        notify: false,
        logger: lib.silentLogger,
        env: {},
        shared: args.redis ? { url: args.redis, namespace: args.namespace } : false,
      },
    );
    const clients = Array.from({ length: 4 }, (_, workerId) => lib.createClient(pool, { workerId }));
    return {
      call: (/** @type {number} */ lane, /** @type {number} */ n, /** @type {AbortSignal} */ signal) =>
        clients[lane % clients.length].chat.completions.create(body(n), { signal }),
      close: () => pool.close(),
    };
  }
  // The SDK as users leave it: its default retries (2, with its own backoff).
  const sdks = args.keys.map((apiKey) => new OpenAI({ apiKey, baseURL: args.baseURL }));
  if (args.side === 'bare') {
    return {
      call: (lane, n, signal) => sdks[lane % sdks.length].chat.completions.create(body(n), { signal }),
      close: async () => {},
    };
  }
  const limiters = sdks.map(
    () =>
      new Bottleneck({
        ...(args.minTimeMs ? { minTime: args.minTimeMs } : {}),
        ...(args.maxConcurrent ? { maxConcurrent: args.maxConcurrent } : {}),
      }),
  );
  return {
    call: (lane, n, signal) => {
      const k = lane % sdks.length;
      return limiters[k].schedule(() => sdks[k].chat.completions.create(body(n), { signal }));
    },
    close: async () => {
      await Promise.all(limiters.map((l) => l.disconnect()));
    },
  };
}

// The benchmark went away (killed, or failed): stop at once rather than run out the row.
process.once('disconnect', () => process.exit(1));
const { call, close } = await makeCall();
const { deadline } = await new Promise((resolve) => {
  process.once('message', (message) => resolve(/** @type {{ deadline: number }} */ (message)));
  process.send?.('ready');
});
const timer = setTimeout(() => stop.abort(), Math.max(0, deadline - Date.now()));
let taken = 0;
let ok = 0;
let failed = 0;
const more = () => Date.now() < deadline && (args.count === undefined || taken < args.count);
const limit = pLimit(args.lanes);
await Promise.all(
  Array.from({ length: args.lanes }, (_, lane) =>
    limit(async () => {
      while (more()) {
        const n = taken++;
        await run(lane, n).then(
          () => ok++,
          () => {
            if (!stop.signal.aborted) failed++;
          },
        );
      }
    }),
  ),
);
const finishedAt = Date.now();
clearTimeout(timer);
await close();
process.removeAllListeners('disconnect');
process.send?.({ ok, failed, finishedAt });
process.disconnect?.();
