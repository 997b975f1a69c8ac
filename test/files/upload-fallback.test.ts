/**
 * `--upload` against a server that has no `/v1/files` (vLLM, many proxies answer 404 there): the
 * run does not block on a key wrongly taken out as unreachable; the files go inline, said once.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runPrompts } from '../../src/prompts/index.js';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { collectingLogger, useCleanup, useTempDir } from '../helpers.js';
import { FAST_RETRY, MODEL, readRows } from '../prompts/helpers.js';
import { copyFixtures, fileIds, modelRequests } from './helpers.js';

const KEY = 'sk-files-nofiles-key-000000001';
const tempDir = useTempDir();
const cleanup = useCleanup();
const sims: Simulator[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((sim) => sim.close()));
});

/** A proxy to `target` that answers 404 on `/v1/files` as FastAPI servers do, and forwards the rest. */
async function withoutFiles(target: string): Promise<string> {
  const origin = new URL(target).origin;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      if (req.url?.startsWith('/v1/files')) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ detail: 'Not Found' }));
        return;
      }
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers)) {
        if (typeof value === 'string' && !['host', 'content-length', 'connection'].includes(name))
          headers.set(name, value);
      }
      const body = Buffer.concat(chunks);
      const answer = await fetch(`${origin}${req.url}`, {
        method: req.method ?? 'GET',
        headers,
        ...(body.length > 0 ? { body } : {}),
      });
      res.writeHead(answer.status, {
        'content-type': answer.headers.get('content-type') ?? 'application/json',
      });
      res.end(Buffer.from(await answer.arrayBuffer()));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup({
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
}

describe('--upload without /v1/files', () => {
  it('sends the files inline with one warning, instead of blocking on a key taken out as unreachable', async () => {
    const sim = await startSimulator({ keys: [{ key: KEY }] });
    sims.push(sim);
    const url = await withoutFiles(sim.url);
    const dir = await tempDir();
    const base = await copyFixtures(dir);
    const logger = collectingLogger();
    const records = [
      { id: 'a', prompt: 'Describe.', files: ['scan.pdf'] },
      { id: 'b', prompt: 'Describe.', files: ['chart.png'] },
      { id: 'c', prompt: 'Describe.', files: ['docs/a.md'] },
    ];
    const summary = await runPrompts({ key_list: [{ api_key: KEY, base_url: url }] }, records, {
      output: join(dir, 'out.jsonl'),
      model: MODEL,
      endpoint: 'responses',
      filesDir: base,
      upload: true,
      handleSignals: false,
      logger,
      pool: { watch: false, notify: false, waitTimeoutMs: 20_000 },
      client: { retry: FAST_RETRY },
    });
    expect(summary.done).toBe(3);
    const rows = await readRows(join(dir, 'out.jsonl'));
    expect(rows.every((row) => typeof row['response'] === 'string')).toBe(true);
    for (const request of modelRequests(sim)) expect(fileIds(request.body)).toEqual([]);
    const warnings = logger.lines.filter((line) => line.includes('/v1/files'));
    expect(warnings).toEqual([
      expect.stringMatching(/--upload: .* has no \/v1\/files \(404\); files are sent inline/),
    ]);
  }, 60_000);
});
