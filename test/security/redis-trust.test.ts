/**
 * Write access to Redis is not code execution on a worker, nor a way to send its keys elsewhere:
 * a task named in the run registry (a `data:` URL, or a `file:` module the worker was not started
 * with) is never imported, and a run asking for another base URL than the worker's own sends
 * nothing. Over a real Redis, a real coordinator and real simulators.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { keybatchVersion, moduleHash } from '../../src/distributed/task-identity.js';
import { startWorker, type WorkerHandle } from '../../src/distributed/worker.js';
import { runPrompts } from '../../src/prompts/index.js';
import { startSimulator } from '../../src/sim/index.js';
import { collectingLogger, until, useTempDir } from '../helpers.js';
import { useRedis } from '../redis.js';

const redis = useRedis();
const tempDir = useTempDir();
const KEY = 'sk-test-security-redis-worker-8830';
const MODEL = 'gpt-4o-mini';
const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((thing) => thing.close()));
  // Each test writes its own registry entries.
  const client = new Redis(redis().url);
  await client.flushall();
  client.disconnect();
});

/** A module that, once imported, writes `marker`: what an attacker's code would do first. */
const markerCode = (marker: string) =>
  `import { writeFileSync } from 'node:fs'; writeFileSync(${JSON.stringify(marker)}, 'ran'); export default async (chunk) => chunk;`;
const dataUrlOf = (code: string) => `data:text/javascript,${encodeURIComponent(code)}`;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** A worker whose only key has no base_url (the usual OpenAI key): it goes to `base`. */
async function worker(
  base: string,
  task?: string,
  secret?: string,
): Promise<WorkerHandle & { log: ReturnType<typeof collectingLogger> }> {
  const log = collectingLogger();
  const handle = await startWorker({
    redis: redis().url,
    config: { key_list: [{ api_key: KEY }] },
    pool: { watch: false, notify: false },
    defaultBaseURL: base,
    ...(task !== undefined ? { task } : {}),
    ...(secret !== undefined ? { secret } : {}),
    pollIntervalMs: 50,
    logger: log,
  });
  open.push({ close: () => handle.close(true) });
  return Object.assign(handle, { log });
}

/** A run descriptor as anyone with write access to Redis could register it. */
function descriptor(runId: string, task: { ref: string; name: string; sha256: string }) {
  return JSON.stringify({
    v: 1,
    runId,
    queue: `run-${runId}`,
    task: { kind: 'module', ...task },
    args: null,
    client: {},
    lockDurationMs: 30_000,
    stalledIntervalMs: 15_000,
    maxStalled: 5,
    coordinator: { host: 'elsewhere', pid: 1, startedAt: Date.now() },
  });
}

describe('Redis is not trusted with code', () => {
  it('a data: task and a file: task the worker was not started with are never imported', async () => {
    const sim = await startSimulator({ keys: [{ key: KEY }] });
    open.push(sim);
    const dir = await tempDir();
    const marker = join(dir, 'imported');
    const code = markerCode(marker);
    const dataUrl = dataUrlOf(code);
    // The same code in a file on the worker's machine, with its true graph hash.
    const planted = join(dir, 'planted.mjs');
    await writeFile(planted, code);
    const plantedUrl = pathToFileURL(planted).href;
    const own = join(dir, 'own-task.mjs');
    await writeFile(own, 'export default async (chunk) => chunk;\n');

    const w = await worker(sim.url, own);
    const client = new Redis(redis().url);
    open.push({ close: async () => void client.disconnect() });
    const sha = createHash('sha256').update(dataUrl).digest('hex');
    await client.hset(
      'keybatch:runs',
      'dataurl',
      descriptor('dataurl', { ref: dataUrl, name: 'x.mjs', sha256: sha }),
    );
    await client.hset(
      'keybatch:runs',
      'planted',
      descriptor('planted', { ref: plantedUrl, name: 'planted.mjs', sha256: await moduleHash(plantedUrl) }),
    );
    await until(
      () => w.log.lines.filter((line) => line.includes('refused')).length >= 2,
      30_000,
      'two refusals',
    );
    expect(w.runs()).toEqual([]);
    expect(existsSync(marker)).toBe(false);
    const refusals = w.log.lines.filter((line) => line.includes('refused'));
    expect(refusals.join('\n')).toMatch(
      /run planted refused: its task planted\.mjs is version sha256 [0-9a-f]{12}; this worker's --task modules are own-task\.mjs/,
    );
    expect(refusals.join('\n')).not.toContain(KEY);
  }, 60_000);

  it('a worker started with no --task runs no module at all: neither a data: URL nor a file on its machine', async () => {
    const sim = await startSimulator({ keys: [{ key: KEY }] });
    open.push(sim);
    const dir = await tempDir();
    const marker = join(dir, 'imported');
    const planted = join(dir, 'planted.mjs');
    await writeFile(planted, markerCode(marker));
    const url = pathToFileURL(planted).href;
    const dataUrl = dataUrlOf(markerCode(marker));
    const w = await worker(sim.url);
    const client = new Redis(redis().url);
    open.push({ close: async () => void client.disconnect() });
    await client.hset(
      'keybatch:runs',
      'r1',
      descriptor('r1', { ref: url, name: 'planted.mjs', sha256: await moduleHash(url) }),
      'r2',
      descriptor('r2', { ref: dataUrl, name: 'x.mjs', sha256: sha256(dataUrl) }),
    );
    await until(
      () => w.log.lines.filter((line) => line.includes('refused')).length >= 2,
      30_000,
      'two refusals',
    );
    expect(existsSync(marker)).toBe(false);
    expect(w.runs()).toEqual([]);
    for (const run of ['r1', 'r2']) {
      expect(w.log.text()).toMatch(
        new RegExp(`run ${run} refused: .*this worker runs only modules named by --task`),
      );
    }
  }, 60_000);
});

describe('Redis is not trusted with destinations', () => {
  it('a run asking for another base URL is refused by a worker: nothing reaches that host', async () => {
    const sim = await startSimulator({ keys: [{ key: KEY }] });
    const evil = await startSimulator({ keys: [] });
    open.push(sim, evil);
    const w = await worker(sim.url);
    const dir = await tempDir();
    const stop = new AbortController();
    const run = runPrompts(
      // The coordinator's own key (its pool sends nothing: the workers do).
      { key_list: [{ api_key: 'sk-test-security-coordinator-0001', base_url: evil.url }] },
      [{ prompt: 'hello' }, { prompt: 'again' }],
      {
        output: join(dir, 'out.jsonl'),
        model: MODEL,
        handleSignals: false,
        signal: stop.signal,
        logger: collectingLogger(),
        pool: { watch: false, notify: false },
        client: { defaultBaseURL: evil.url },
        distributed: { redis: redis().url },
        progressIntervalMs: 50,
        onProgress: (p) => {
          // Refused (the fix), or a request reached the other host (the defect): either way, stop.
          if (p.workers?.some((x) => x.refused) || evil.requests().length > 0) stop.abort();
        },
      },
    );
    await expect(run).rejects.toThrow();
    expect(w.log.text()).toMatch(
      /refused: it asks for base URL http:\/\/127\.0\.0\.1:\d+\/v1 for keys without base_url/,
    );
    expect(evil.requests().map((r) => r.key?.slice(-4))).toEqual([]);
    expect(sim.requests()).toEqual([]);
  }, 60_000);
});

describe('descriptors signed with a shared secret (KEYBATCH_SECRET)', () => {
  it('a worker with a secret refuses an unsigned or forged descriptor and serves its coordinator', async () => {
    const sim = await startSimulator({ keys: [{ key: KEY }] });
    open.push(sim);
    const w = await worker(sim.url, undefined, 'shared-secret-1');
    const client = new Redis(redis().url);
    open.push({ close: async () => void client.disconnect() });
    const prompts = {
      v: 1,
      queue: 'run-forged',
      task: {
        kind: 'prompts',
        version: await keybatchVersion(),
        settings: { model: MODEL, params: {}, raw: false, format: 'rows' },
      },
      args: null,
      client: {},
      lockDurationMs: 30_000,
      stalledIntervalMs: 15_000,
      maxStalled: 5,
      coordinator: { host: 'elsewhere', pid: 1, startedAt: Date.now() },
    };
    await client.hset(
      'keybatch:runs',
      'forged',
      JSON.stringify({ ...prompts, runId: 'forged' }),
      'badsig',
      JSON.stringify({ ...prompts, runId: 'badsig', queue: 'run-badsig', sig: 'f'.repeat(64) }),
    );
    await until(
      () => w.log.lines.filter((line) => line.includes('refused')).length >= 2,
      30_000,
      'two refusals',
    );
    expect(w.log.text()).toContain(
      'run forged refused: it is not signed, and this worker has KEYBATCH_SECRET',
    );
    expect(w.log.text()).toContain(
      "run badsig refused: its signature is not this worker's KEYBATCH_SECRET's",
    );
    expect(w.runs()).toEqual([]);
    const dir = await tempDir();
    const summary = await runPrompts(
      { key_list: [{ api_key: KEY, base_url: sim.url }] },
      [{ prompt: 'hello' }],
      {
        output: join(dir, 'out.jsonl'),
        model: MODEL,
        handleSignals: false,
        logger: collectingLogger(),
        pool: { watch: false, notify: false },
        distributed: { redis: redis().url, secret: 'shared-secret-1' },
      },
    );
    expect(summary.done).toBe(1);
    expect(w.log.text()).toMatch(/serving run [0-9a-f]+ \(task prompts/);
  }, 60_000);
});
