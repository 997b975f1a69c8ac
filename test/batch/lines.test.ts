/**
 * What happens to lines and batches that do not simply complete: expired and transiently failed
 * lines are sent again in a new shard and end answered, a line that keeps failing ends as an error
 * row, the enqueued-token cap is waited out, and every object is only touched by its organization.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
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
});
