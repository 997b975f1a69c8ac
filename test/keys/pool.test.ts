import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { NoUsableKeyError } from '../../src/errors.js';
import { createClient } from '../../src/keys/client.js';
import { parseConfig } from '../../src/keys/config.js';
import { KeyPool } from '../../src/keys/key-pool.js';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { collectingLogger, until, useCleanup, useTempDir } from '../helpers.js';

const tempDir = useTempDir();
const FAST = { retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 } };
const cleanup = useCleanup();

const sim = async (options: Parameters<typeof startSimulator>[0]): Promise<Simulator> =>
  cleanup(await startSimulator(options));

async function pool(
  config: Parameters<typeof KeyPool.open>[0],
  options: Parameters<typeof KeyPool.open>[1] = {},
) {
  const logger = collectingLogger();
  const keyPool = await KeyPool.open(config, { logger, notify: false, ...options });
  cleanup(keyPool);
  return { pool: keyPool, logger };
}

const ask = (client: OpenAI, text: string, model = 'gpt-4o-mini', signal?: AbortSignal) =>
  client.chat.completions.create(
    { model, messages: [{ role: 'user', content: text }] },
    signal ? { signal } : {},
  );

const stateOf = (p: KeyPool, key: string) => p.status().keys.find((k) => k.key === key);

describe('the response table', () => {
  it('a quota-spent key becomes exhausted, is never retried, and the request moves to the next key', async () => {
    const s = await sim({ keys: [{ key: 'sk-test-spent-aaaa', quota: 0 }, { key: 'sk-test-good-bbbb' }] });
    const { pool: p, logger } = await pool({
      key_list: [
        { api_key: 'sk-test-spent-aaaa', base_url: s.url },
        { api_key: 'sk-test-good-bbbb', base_url: s.url },
      ],
    });
    const client = createClient(p, FAST);
    for (let i = 0; i < 5; i++) {
      const answer = await ask(client, `q${i}`);
      expect(answer.choices[0]?.message.content).toBe(`echo: q${i}`);
    }
    expect(stateOf(p, 'sk-…aaaa')?.state).toBe('exhausted');
    expect(s.stats().byKey['sk-…aaaa']?.requests).toBe(1);
    expect(s.stats().byKey['sk-…bbbb']?.successes).toBe(5);
    expect(logger.text()).toContain('key sk-…aaaa has no quota left (429 insufficient_quota)');
  });

  it('a key answered 401 is invalid, named redacted in one line, and never used again', async () => {
    const s = await sim({ keys: [{ key: 'sk-test-good-bbbb' }] });
    const { pool: p, logger } = await pool({
      key_list: [
        { api_key: 'sk-test-revoked-cccc', base_url: s.url },
        { api_key: 'sk-test-good-bbbb', base_url: s.url },
      ],
    });
    const client = createClient(p, FAST);
    for (let i = 0; i < 6; i++) await ask(client, `q${i}`);
    expect(stateOf(p, 'sk-…cccc')?.state).toBe('invalid');
    expect(s.requests().filter((r) => r.status === 401)).toHaveLength(1);
    const lines = logger.lines.filter((line) => line.includes('sk-…cccc'));
    expect(lines).toEqual([
      'warn: key sk-…cccc was rejected (401 invalid_api_key); it will not be used again',
    ]);
  });

  it('a rate-limited key cools until retry-after and the request moves on', async () => {
    const s = await sim({ keys: [{ key: 'sk-test-hot-dddd' }, { key: 'sk-test-cool-eeee' }] });
    const { pool: p } = await pool({
      key_index: 0,
      key_list: [
        { api_key: 'sk-test-hot-dddd', base_url: s.url },
        { api_key: 'sk-test-cool-eeee', base_url: s.url },
      ],
    });
    // Long enough for the four requests below on the other key (a new key starts at 10/s, slow start).
    s.inject({ kind: 'status', status: 429, key: 'sk-test-hot-dddd', retryAfterMs: 2000 });
    const client = createClient(p, FAST);
    await ask(client, 'first');
    const hot = stateOf(p, 'sk-…dddd');
    expect(hot?.state).toBe('cooling');
    expect(Date.parse(hot!.coolingUntil!)).toBeGreaterThan(Date.now() + 200);
    expect(s.stats().byKey['sk-…eeee']?.successes).toBe(1);
    // While cooling, every request goes to the other key.
    for (let i = 0; i < 4; i++) await ask(client, `more ${i}`);
    expect(s.stats().byKey['sk-…dddd']?.requests).toBe(1);
    await until(() => stateOf(p, 'sk-…dddd')?.state === 'ready', 10_000, 'cooldown to end');
  });

  it('a key without access to a model is denied for that model only; no key for it fails fast', async () => {
    const s = await sim({
      keys: [{ key: 'sk-test-mini-ffff', models: ['gpt-4o-mini'] }, { key: 'sk-test-full-gggg' }],
    });
    const { pool: p } = await pool({
      key_list: [
        { api_key: 'sk-test-mini-ffff', base_url: s.url },
        { api_key: 'sk-test-full-gggg', base_url: s.url },
      ],
    });
    const client = createClient(p, FAST);
    await ask(client, 'big', 'gpt-4o');
    expect(stateOf(p, 'sk-…ffff')).toMatchObject({ state: 'ready', deniedModels: ['gpt-4o'] });
    await ask(client, 'small 1');
    await ask(client, 'small 2');
    expect(s.stats().byKey['sk-…ffff']?.successes).toBeGreaterThanOrEqual(1);

    const only = await sim({ keys: [{ key: 'sk-test-mini-hhhh', models: ['gpt-4o-mini'] }] });
    const { pool: p2 } = await pool({ key_list: [{ api_key: 'sk-test-mini-hhhh', base_url: only.url }] });
    const started = Date.now();
    const failure = ask(createClient(p2, FAST), 'x', 'gpt-4o');
    await expect(failure).rejects.toBeInstanceOf(NoUsableKeyError);
    await expect(failure).rejects.toMatchObject({ code: 'MODEL_UNAVAILABLE' });
    // At once, not after a wait for a key that will never come (generous for a busy machine).
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('a 400 is not retried and surfaces with its status and code; the key is fine', async () => {
    const s = await sim({ keys: [{ key: 'sk-test-good-iiii' }] });
    const { pool: p } = await pool({ key_list: [{ api_key: 'sk-test-good-iiii', base_url: s.url }] });
    const failure = ask(createClient(p, FAST), 'too long [[sim:400]]');
    await expect(failure).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(failure).rejects.toMatchObject({ status: 400, code: 'context_length_exceeded' });
    expect(s.stats().requests).toBe(1);
    expect(stateOf(p, 'sk-…iiii')).toMatchObject({ state: 'ready', errors: { bad_request: 1 } });
  });

  it('5xx answers are retried with backoff and succeed, or fail with the cause after the cap', async () => {
    const s = await sim({ keys: [{ key: 'sk-test-good-jjjj' }] });
    const { pool: p } = await pool({ key_list: [{ api_key: 'sk-test-good-jjjj', base_url: s.url }] });
    const client = createClient(p, FAST);
    const answer = await ask(client, 'flaky [[sim:503x2]]');
    expect(answer.choices[0]?.message.content).toContain('flaky');
    expect(s.stats().byStatus['503']).toBe(2);

    const failure = ask(client, 'broken [[sim:500]]');
    await expect(failure).rejects.toBeInstanceOf(OpenAI.InternalServerError);
    expect(s.stats().byStatus['500']).toBe(3);
    expect(stateOf(p, 'sk-…jjjj')).toMatchObject({ state: 'ready', errors: { retryable: 5 } });
  });

  it('dropped connections and timeouts are retried, then fail with the cause', async () => {
    const s = await sim({ keys: [{ key: 'sk-test-good-kkkk' }] });
    const { pool: p } = await pool({ key_list: [{ api_key: 'sk-test-good-kkkk', base_url: s.url }] });
    const client = createClient(p, { ...FAST, timeoutMs: 150 });
    expect((await ask(client, 'once [[sim:dropx1]]')).choices[0]?.message.content).toContain('once');
    await expect(ask(client, 'gone [[sim:drop]]')).rejects.toBeInstanceOf(OpenAI.APIConnectionError);
    expect(s.stats().dropped).toBe(4);
    await expect(ask(client, 'stuck [[sim:hang]]')).rejects.toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
    expect(s.stats().hung).toBe(3);
  });
});

describe('waiting when no key is usable', () => {
  async function spentPool(options: Parameters<typeof KeyPool.open>[1] = {}) {
    const dir = await tempDir();
    const s = await sim({ keys: [{ key: 'sk-test-spent-llll', quota: 1 }, { key: 'sk-test-fresh-mmmm' }] });
    const path = join(dir, 'config.json');
    await writeFile(path, JSON.stringify({ key_list: [{ api_key: 'sk-test-spent-llll', base_url: s.url }] }));
    const { pool: p, logger } = await pool(path, options);
    const client = createClient(p, FAST);
    await ask(client, 'uses the quota');
    return { s, path, p, logger, client, dir };
  }

  /** Saves like an editor: write a temporary file, rename it over the original. */
  async function saveByRename(path: string, text: string) {
    const temp = `${path}.tmp-${process.pid}`;
    await writeFile(temp, text);
    await rename(temp, path);
  }

  it('sends nothing while blocked; a key added by write-temp-then-rename lets blocked requests finish within 1 s', async () => {
    const { s, path, p, logger, client } = await spentPool();
    const blocked = [ask(client, 'waiting 1'), ask(client, 'waiting 2'), ask(client, 'waiting 3')];
    const settled = () => p.blocked && p.status().keys.every((key) => key.inFlight === 0);
    await until(settled, 5000, 'the pool to block');
    const before = s.stats().requests;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(s.stats().requests).toBe(before);
    expect(logger.text()).toContain(`no usable key (1 exhausted): waiting; edit ${path} to add or fix a key`);

    const edited = Date.now();
    await saveByRename(
      path,
      JSON.stringify({
        key_list: [
          { api_key: 'sk-test-spent-llll', base_url: s.url },
          { api_key: 'sk-test-fresh-mmmm', base_url: s.url },
        ],
      }),
    );
    const answers = await Promise.all(blocked);
    // The watcher sees the rename at once; 3 s is generous for a busy machine.
    expect(Date.now() - edited).toBeLessThan(3000);
    expect(answers.map((a) => a.choices[0]?.message.content)).toEqual([
      'echo: waiting 1',
      'echo: waiting 2',
      'echo: waiting 3',
    ]);
    expect(p.blocked).toBe(false);
    expect(logger.text()).toContain('reloaded (added sk-…mmmm)');
  });

  it('a half-saved file is reported and waiting continues', async () => {
    const { s, path, p, logger, client } = await spentPool();
    const blocked = ask(client, 'still waiting');
    await until(() => p.blocked, 5000, 'the pool to block');
    await writeFile(path, '{ "key_list": [ { "api_key": "sk-test-fre');
    await until(() => logger.text().includes('not valid JSON'), 3000, 'the bad save to be reported');
    expect(logger.text()).toMatch(
      /config\.json: not valid JSON:? (at )?line 1, column \d+.*keeping the last good config \(still waiting\)/,
    );
    expect(p.blocked).toBe(true);
    await writeFile(path, JSON.stringify({ key_list: [{ api_key: 'sk-test-fresh-mmmm', base_url: s.url }] }));
    expect((await blocked).choices[0]?.message.content).toBe('echo: still waiting');
    expect(logger.text()).toContain('removed sk-…llll');
  });

  it('a bounded wait ends with NoUsableKeyError (NO_USABLE_KEY)', async () => {
    const { client } = await spentPool({ waitTimeoutMs: 300 });
    const started = Date.now();
    const failure = ask(client, 'gives up');
    await expect(failure).rejects.toBeInstanceOf(NoUsableKeyError);
    await expect(failure).rejects.toMatchObject({
      code: 'NO_USABLE_KEY',
      message: expect.stringContaining('wait timeout'),
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });

  it('an aborted request stops waiting', async () => {
    const { p, client } = await spentPool();
    const controller = new AbortController();
    const waiting = ask(client, 'cancel me', 'gpt-4o-mini', controller.signal);
    await until(() => p.blocked, 5000, 'the pool to block');
    controller.abort();
    await expect(waiting).rejects.toBeInstanceOf(OpenAI.APIUserAbortError);
  });
});

describe('load spreading and pacing', () => {
  it('3 limited keys, 60 concurrent requests, no rpm configured: few 429s and every key busy', async () => {
    const keys = ['sk-test-rate-0001', 'sk-test-rate-0002', 'sk-test-rate-0003'];
    const s = await sim({
      keys: keys.map((key) => ({ key, requestsPerWindow: 20, windowMs: 1000 })),
      latencyMs: 20,
    });
    const { pool: p } = await pool({ key_list: keys.map((api_key) => ({ api_key, base_url: s.url })) });
    const client = createClient(p, FAST);
    const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => ask(client, `load ${i}`)));
    expect(answers).toHaveLength(60);
    const stats = s.stats();
    expect(stats.rateLimited / stats.requests).toBeLessThan(0.2);
    for (const key of ['sk-…0001', 'sk-…0002', 'sk-…0003']) {
      expect(stats.byKey[key]?.successes).toBeGreaterThanOrEqual(12);
    }
  });

  it('worker i starts its rotation at key_index + i', async () => {
    const { pool: p } = await pool({
      key_index: 1,
      key_list: [
        { api_key: 'sk-test-rot-0000' },
        { api_key: 'sk-test-rot-1111' },
        { api_key: 'sk-test-rot-2222' },
      ],
    });
    const labels = [];
    for (let workerId = 0; workerId < 3; workerId++) {
      const lease = await p.acquire({ tokens: 1, workerId });
      labels.push(lease.label);
      p.release(lease, { outcome: 'cancelled' });
    }
    expect(labels).toEqual(['sk-…1111', 'sk-…2222', 'sk-…0000']);
  });

  it('keys of one group share a budget', async () => {
    const { pool: p } = await pool({
      key_list: [
        { api_key: 'sk-test-grp-aaa1', group: 'org-a', rpm: 60 },
        { api_key: 'sk-test-grp-aaa2', group: 'org-a' },
      ],
    });
    // 60 per minute shared, sent evenly (one a second): after one lease on either key, neither is ready at once.
    p.release(await p.acquire({ tokens: 1, workerId: 0 }), { outcome: 'ok' });
    const controller = new AbortController();
    const next = p.acquire({ tokens: 1, workerId: 0 }, controller.signal);
    const raced = await Promise.race([
      next.then(() => 'leased'),
      new Promise((r) => setTimeout(() => r('waiting'), 100)),
    ]);
    expect(raced).toBe('waiting');
    controller.abort();
    await expect(next).rejects.toMatchObject({ code: 'ABORTED' });
  });
});

describe('createClient', () => {
  it("uses each key's base URL and organization", async () => {
    const a = await sim({ keys: [{ key: 'sk-test-orga-0a0a', organization: 'org-alpha' }] });
    const b = await sim({ keys: [{ key: 'sk-test-orgb-0b0b' }] });
    const { pool: p } = await pool({
      key_list: [
        { api_key: 'sk-test-orga-0a0a', base_url: a.url, organization: 'org-alpha' },
        { api_key: 'sk-test-orgb-0b0b', base_url: b.url },
      ],
    });
    const client = createClient(p, FAST);
    for (let i = 0; i < 6; i++) await ask(client, `spread ${i}`);
    expect(a.stats().successes).toBeGreaterThan(0);
    expect(b.stats().successes).toBeGreaterThan(0);
    expect(a.requests().every((r) => r.organization === 'org-alpha')).toBe(true);
    expect(b.requests().every((r) => r.organization === undefined)).toBe(true);
  });

  it('a request naming an organization is served only by its keys; one no key has waits for a config edit', async () => {
    const s = await sim({
      keys: [
        { key: 'sk-test-orgx-1a1a', organization: 'org-x' },
        { key: 'sk-test-orgy-2b2b', organization: 'org-y' },
        { key: 'sk-test-orgz-3c3c', organization: 'org-z' },
      ],
    });
    const x = { api_key: 'sk-test-orgx-1a1a', base_url: s.url, organization: 'org-x' };
    const y = { api_key: 'sk-test-orgy-2b2b', base_url: s.url, organization: 'org-y' };
    const { pool: p } = await pool({ key_list: [x, y] });
    const forY = createClient(p, { ...FAST, organization: 'org-y' });
    for (let i = 0; i < 4; i++) await ask(forY, `for y ${i}`);
    // The request's own header does the same.
    const plain = createClient(p, FAST);
    await plain.chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'header' }] },
      { headers: { 'OpenAI-Organization': 'org-y' } },
    );
    expect(s.stats().byKey['sk-…2b2b']?.successes).toBe(5);
    expect(s.stats().byKey['sk-…1a1a']).toBeUndefined();
    // No key of org-z: the request waits (blocked), and a reload adding one lets it finish.
    let blocked = '';
    p.on('blocked', ({ message }) => {
      blocked = message;
    });
    const waiting = ask(createClient(p, { ...FAST, organization: 'org-z' }), 'for z');
    await until(() => p.blocked, 10_000, 'the pool to block');
    expect(blocked).toContain('not in organization org-z');
    p.reload(
      parseConfig({
        key_list: [x, y, { api_key: 'sk-test-orgz-3c3c', base_url: s.url, organization: 'org-z' }],
      }),
    );
    expect((await waiting).choices[0]?.message.content).toBe('echo: for z');
    expect(s.stats().byKey['sk-…3c3c']?.successes).toBe(1);
  });

  it('hands the SDK an answer read once: parsed data, raw text, headers and .withResponse() all intact', async () => {
    const s = await sim({ keys: [{ key: 'sk-test-raw-5678', requestsPerWindow: 100, windowMs: 1000 }] });
    const { pool: p } = await pool({ key_list: [{ api_key: 'sk-test-raw-5678', base_url: s.url }] });
    const client = createClient(p, FAST);
    const { data, response, request_id } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'raw' }] })
      .withResponse();
    expect(data.choices[0]?.message.content).toBe('echo: raw');
    expect(response.status).toBe(200);
    expect(response.headers.get('x-ratelimit-limit-requests')).toBe('100');
    expect(request_id).toBeTruthy();
    expect(JSON.parse(await response.text()).choices[0].message.content).toBe('echo: raw');
    expect(stateOf(p, 'sk-…5678')?.tokens).toBe(data.usage?.total_tokens);
  });

  it('serves every endpoint: chat with and without streaming, responses, completions, embeddings, models, files', async () => {
    const s = await sim({ keys: [{ key: 'sk-test-all-1234' }] });
    const { pool: p } = await pool({ key_list: [{ api_key: 'sk-test-all-1234', base_url: s.url }] });
    const client = createClient(p, FAST);
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'streamed' }],
      stream: true,
    });
    let text = '';
    for await (const part of stream) text += part.choices[0]?.delta.content ?? '';
    expect(text).toBe('echo: streamed');
    const response = await client.responses.create({ model: 'gpt-4o-mini', input: 'hello' });
    expect(response.output_text).toContain('hello');
    const completion = await client.completions.create({
      model: 'gpt-3.5-turbo-instruct',
      prompt: 'complete',
    });
    expect(completion.choices[0]?.text).toContain('complete');
    const embedding = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'vector' });
    expect(embedding.data[0]?.embedding.length).toBeGreaterThan(0);
    const models = await client.models.list();
    expect(models.data.length).toBeGreaterThan(0);
    const file = await client.files.create({
      file: new File(['{"a":1}\n'], 'batch.jsonl'),
      purpose: 'batch',
    });
    expect(file.id).toBeTruthy();
    expect(stateOf(p, 'sk-…1234')?.successes).toBe(6);
    expect(stateOf(p, 'sk-…1234')?.tokens).toBeGreaterThan(0);
  });
});
