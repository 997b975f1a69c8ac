/**
 * What happens to lines and batches that do not simply complete: expired and transiently failed
 * lines are sent again in a new shard and end answered, a line that keeps failing ends as an error
 * row, the enqueued-token cap is waited out, and every object is only touched by its organization.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runPrompts } from '../../src/prompts/index.js';
import { readRows } from '../prompts/helpers.js';
import { KEYS, useBatchSetup } from './helpers.js';

const setup = useBatchSetup();

const SOLO2 = { key: 'sk-test-batch-solo-0004' };
const ALL_KEYS = [...KEYS, SOLO2];
const orgOf = new Map<string, string>(
  ALL_KEYS.map((k) => [`sk-…${k.key.slice(-4)}`, 'organization' in k ? k.organization : k.key]),
);

describe('backend batch: lines that fail', () => {
  it('re-submits expired and transiently failed lines until answered, and a line that keeps failing ends as an error row', async () => {
    const s = await setup();
    const records = [
      { id: 'ok', prompt: 'fine' },
      { id: 'exp', prompt: 'late [[sim:expirex1]]' },
      { id: 'flaky', prompt: 'flaky [[sim:503x1]]' },
      { id: 'down', prompt: 'down [[sim:503]]' },
      { id: 'rate', prompt: 'rate [[sim:429x2]]' },
    ];
    const summary = await runPrompts(s.config, records, s.options({ backend: 'batch' }));
    const rows = await readRows(s.output);
    expect(rows.map((r) => r['id'])).toEqual(['ok', 'exp', 'flaky', 'down', 'rate']);
    expect(rows[0]).toMatchObject({ response: 'echo: fine' });
    expect(rows[1]).toMatchObject({ response: expect.stringContaining('late') });
    expect(rows[2]).toMatchObject({ response: expect.stringContaining('flaky') });
    expect(rows[3]).toMatchObject({ error: { status: 503 } });
    expect(rows[4]).toMatchObject({ response: expect.stringContaining('rate') });
    expect(summary).toMatchObject({ done: 4, failed: 1 });
    // First shard, then the four not answered, then 'down' and 'rate' again: 3 batches.
    expect(s.sim.stats().objects.batchesCreated).toBe(3);
    const state = JSON.parse(await readFile(join(`${s.output}.keybatch`, 'batches.json'), 'utf8'));
    expect(state.groups[0].shards.map((sh: { attempt: number }) => sh.attempt)).toEqual([1, 2, 3]);
  }, 60_000);

  it('a malformed line in an output file (cut short, or null) affects its own row alone: asked again, the shard kept', async () => {
    const s = await setup();
    // In front of the simulator: the first output file downloaded loses half its second line and gains a `null` line.
    let corrupted = 0;
    const proxy = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const headers = Object.fromEntries(
        Object.entries(req.headers).filter(
          ([name]) => !['host', 'content-length', 'connection'].includes(name),
        ),
      ) as Record<string, string>;
      const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
      const upstream = await fetch(`${s.sim.url.replace(/\/v1$/, '')}${req.url}`, {
        method: req.method ?? 'GET',
        headers,
        ...(body && req.method !== 'GET' ? { body } : {}),
      });
      let text = Buffer.from(await upstream.arrayBuffer());
      if (/\/files\/[^/]+\/content$/.test(req.url ?? '') && corrupted++ === 0) {
        const lines = text.toString('utf8').split('\n');
        lines[1] = lines[1]!.slice(0, Math.floor(lines[1]!.length / 2));
        lines.splice(2, 0, 'null');
        text = Buffer.from(lines.join('\n'));
      }
      res.writeHead(upstream.status, {
        'content-type': upstream.headers.get('content-type') ?? 'application/json',
      });
      res.end(text);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const port = (proxy.address() as AddressInfo).port;
    try {
      const config = { key_list: [{ api_key: KEYS[2].key, base_url: `http://127.0.0.1:${port}/v1` }] };
      const records = Array.from({ length: 4 }, (_, i) => ({ id: `r${i}`, prompt: `line ${i}` }));
      const summary = await runPrompts(config, records, s.options({ backend: 'batch' }));
      expect(summary).toMatchObject({ done: 4, failed: 0 });
      const rows = await readRows(s.output);
      expect(rows.map((r) => r['response'])).toEqual(records.map((r) => `echo: ${r.prompt}`));
      // The shard's other rows kept; the cut one asked again in one more batch.
      expect(s.sim.stats().objects.batchesCreated).toBe(2);
      expect(s.logger.text()).toMatch(
        /file \S+: 2 line\(s\) not a JSON object, first line 2; their requests are asked again/,
      );
    } finally {
      proxy.close();
    }
  }, 60_000);

  it('never polls, downloads or cancels a batch or file with a key of another organization (or, without one, another key)', async () => {
    const s = await setup({}, ALL_KEYS);
    const records = Array.from({ length: 12 }, (_, i) => ({ id: i, prompt: `p${i}` }));
    await runPrompts(s.config, records, s.options({ backend: 'batch', shardMaxRequests: 2 }));
    const rows = await readRows(s.output);
    expect(rows.map((r) => r['response'])).toEqual(records.map((r) => `echo: ${r.prompt}`));
    const { touchedBy, batchesCreated } = s.sim.stats().objects;
    expect(batchesCreated).toBe(6);
    const owners = new Set<string>();
    for (const [id, keys] of Object.entries(touchedBy)) {
      const orgs = new Set(keys.map((k) => orgOf.get(k)));
      expect({ id, orgs: [...orgs] }).toEqual({ id, orgs: [expect.any(String)] });
      owners.add([...orgs][0] as string);
    }
    // Each shard's objects were touched only by the organization or key its batches.json entry names.
    const affinityOf = new Map(
      ALL_KEYS.map((k) => [
        `sk-…${k.key.slice(-4)}`,
        'organization' in k
          ? `org:${k.organization}`
          : `key:${createHash('sha256').update(k.key).digest('hex').slice(0, 16)}`,
      ]),
    );
    const state = JSON.parse(await readFile(join(`${s.output}.keybatch`, 'batches.json'), 'utf8'));
    for (const shard of state.groups.flatMap((g: { shards: unknown[] }) => g.shards)) {
      const want = shard.affinity.organization
        ? `org:${shard.affinity.organization}`
        : `key:${shard.affinity.keyHash}`;
      for (const id of [shard.fileId, shard.batchId, shard.outputFileId]) {
        expect({ id, by: (touchedBy[id] ?? []).map((k) => affinityOf.get(k)) }).toEqual({ id, by: [want] });
      }
    }
    // Shards spread over the pool's organizations and the keys without one.
    expect(owners.size).toBeGreaterThan(2);
  }, 60_000);

  it('survives token_limit_exceeded: a refused batch is created again from the same file once others finish', async () => {
    const s = await setup(
      { batch: { dayMs: 4000, validateMs: 30, processMs: 1500, finalizeMs: 30, enqueuedTokenLimit: 5 } },
      [KEYS[0]],
    );
    const records = Array.from({ length: 6 }, (_, i) => ({ id: i, prompt: `tokens ${i}` }));
    await runPrompts(s.config, records, s.options({ backend: 'batch', shardMaxRequests: 2 }));
    const rows = await readRows(s.output);
    expect(rows.map((r) => r['response'])).toEqual(records.map((r) => `echo: ${r.prompt}`));
    const objects = s.sim.stats().objects;
    expect(objects.filesCreated).toBe(3);
    expect(objects.batchesCreated).toBeGreaterThan(3);
    expect(s.logger.text()).toContain('token_limit_exceeded');
  }, 60_000);

  // The two halves of a split shard are created together and both refused: a batch that was
  // refused itself never held the queue, so each half is too large alone and splits again.
  it('a shard that can never fit the enqueued token limit is split (not recreated 63 times); a request that alone passes it fails once, saying why', async () => {
    const s = await setup(
      { batch: { dayMs: 4000, validateMs: 30, processMs: 300, finalizeMs: 30, enqueuedTokenLimit: 5 } },
      [KEYS[0]],
    );
    const records = Array.from({ length: 8 }, (_, i) => ({ id: i, prompt: `tokens ${i}` }));
    // One request far larger than the limit: it can never be enqueued.
    const huge = { id: 8, prompt: `tokens ${'many '.repeat(40)}` };
    await runPrompts(s.config, [...records, huge], s.options({ backend: 'batch', shardMaxRequests: 9 }));
    const rows = await readRows(s.output);
    expect(rows.slice(0, 8).map((r) => r['response'])).toEqual(records.map((r) => `echo: ${r.prompt}`));
    expect(rows[8]?.['error']).toMatchObject({
      code: 'token_limit_exceeded',
      message: expect.stringMatching(/alone passes the organization's enqueued token limit/),
    });
    // 9 -> 5 + 4 -> four shards of 2 that fit one at a time, and the huge one. A refused shard is
    // created again once per holder that ends while it waits: 1 + 2 + (1 + 2 + 3 + 4) + 5 at most,
    // whatever the timing; before, the halves waited on each other 21 times each.
    expect(s.sim.stats().objects.batchesCreated).toBeLessThanOrEqual(18);
    for (const n of [9, 5, 4]) {
      expect(s.logger.text()).toContain(
        `its ${n} requests alone pass the organization's enqueued token limit; they go again in smaller shards`,
      );
    }
  }, 120_000);
});
