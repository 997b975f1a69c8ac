import { afterEach, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { REQUEST_LOG_SIZE, RequestLog } from '../../src/sim/stats.js';
import { chat, clientFor, rejectionOf } from './helpers.js';

const A = 'sk-stats-key-aaaa';
const B = 'sk-stats-key-bbbb';
let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

describe('stats', () => {
  it('counts every answer by status and by redacted key, with tokens of the successes', async () => {
    sim = await startSimulator({ keys: [{ key: A }, { key: B, quota: 1 }] });
    const a = clientFor(sim, A);
    const b = clientFor(sim, B);
    const first = await chat(a, 'same question');
    await chat(a, 'same question');
    await chat(b, 'other question');
    await rejectionOf(chat(b, 'over quota'));
    await rejectionOf(chat(clientFor(sim, 'sk-stats-unknown-cccc'), 'who'));
    await rejectionOf(chat(a, 'fails [[sim:500]]'));

    const stats = sim.stats();
    expect(stats).toMatchObject({
      requests: 6,
      successes: 3,
      byStatus: { '200': 3, '429': 1, '401': 1, '500': 1 },
      rateLimited: 0,
      dropped: 0,
      hung: 0,
    });
    expect(stats.answered).toEqual({ 'same question': 2, 'other question': 1 });
    expect(Object.keys(stats.byKey).sort()).toEqual(['sk-…aaaa', 'sk-…bbbb']);
    expect(stats.byKey['sk-…aaaa']).toEqual({
      requests: 3,
      successes: 2,
      byStatus: { '200': 2, '500': 1 },
      tokens: 2 * (first.usage?.total_tokens ?? 0),
    });
    expect(stats.byKey['sk-…bbbb']).toMatchObject({
      requests: 2,
      successes: 1,
      byStatus: { '200': 1, '429': 1 },
    });
  });

  it('fingerprints completions, embeddings and responses by their prompt / input', async () => {
    sim = await startSimulator({ keys: [{ key: A }] });
    const client = clientFor(sim, A);
    await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'p1' });
    await client.embeddings.create({ model: 'text-embedding-3-small', input: 'e1' });
    await client.responses.create({ model: 'gpt-4o-mini', input: 'r1' });
    await client.models.list();
    expect(sim.stats().answered).toEqual({ p1: 1, e1: 1, r1: 1 });
    expect(sim.stats().successes).toBe(4);
  });

  it('returns snapshots, and resetStats clears the counters and the request log', async () => {
    sim = await startSimulator({ keys: [{ key: A, quota: 1 }] });
    const client = clientFor(sim, A);
    await chat(client, 'one');
    const snapshot = sim.stats();
    await rejectionOf(chat(client, 'two'));
    expect(snapshot.requests).toBe(1);
    expect(sim.requests()).toHaveLength(2);

    sim.resetStats();
    expect(sim.stats()).toEqual({
      requests: 0,
      successes: 0,
      byStatus: {},
      byKey: {},
      answered: {},
      rateLimited: 0,
      dropped: 0,
      hung: 0,
      objects: { filesCreated: 0, batchesCreated: 0, batchesCancelled: 0, byRoute: {}, touchedBy: {} },
    });
    expect(sim.requests()).toEqual([]);
    // Quota is not a statistic: the key stays exhausted.
    expect((await rejectionOf(chat(client, 'three')))['code']).toBe('insufficient_quota');
  });

  it('records each request with its redacted key, organization, body, status and time', async () => {
    sim = await startSimulator({ keys: [{ key: A }] });
    const before = Date.now();
    await chat(clientFor(sim, A, { organization: 'org-x' }), 'hello', { temperature: 0 });
    const [record] = sim.requests();
    expect(record).toEqual({
      method: 'POST',
      path: '/v1/chat/completions',
      key: 'sk-…aaaa',
      organization: 'org-x',
      body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }], temperature: 0 },
      status: 200,
      time: expect.any(Number),
    });
    expect(record?.time).toBeGreaterThanOrEqual(before);
  });
});

describe('RequestLog', () => {
  it('keeps the last 2000 requests, oldest first', () => {
    const log = new RequestLog();
    for (let i = 0; i < REQUEST_LOG_SIZE + 5; i++) {
      log.add({ method: 'GET', path: `/${i}`, key: null, body: null, status: 200, time: i });
    }
    const list = log.list();
    expect(list).toHaveLength(REQUEST_LOG_SIZE);
    expect(list[0]?.path).toBe('/5');
    expect(list.at(-1)?.path).toBe(`/${REQUEST_LOG_SIZE + 4}`);
  });
});
