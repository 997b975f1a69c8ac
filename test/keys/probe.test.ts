import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { describeKeys, probeKeys } from '../../src/keys/probe.js';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { useTempDir } from '../helpers.js';

const tempDir = useTempDir();
const open: Simulator[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

const KEYS = {
  invalid: 'sk-test-unknown-key-0001',
  spent: 'sk-test-spent-key-0002',
  mini: 'sk-test-only-4o-key-0003',
  good: 'sk-test-good-key-0004',
  org: 'sk-test-org-key-0005',
  hot: 'sk-test-hot-key-0006',
};

async function sim(): Promise<Simulator> {
  const s = await startSimulator({
    keys: [
      { key: KEYS.spent, quota: 0 },
      { key: KEYS.mini, models: ['gpt-4o'] },
      { key: KEYS.good },
      { key: KEYS.org, organization: 'org-sim-probe' },
      { key: KEYS.hot },
    ],
  });
  open.push(s);
  return s;
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 1;
}

describe('probeKeys', () => {
  it('says what the answer headers tell of each key: per-minute limits in OpenAI and IETF dialects, none without headers', async () => {
    const s = await startSimulator({
      keys: [
        { key: 'sk-test-limits-openai-0007', requestsPerWindow: 500, tokensPerWindow: 200_000 },
        {
          key: 'sk-test-limits-ietf-0008',
          requestsPerWindow: 60,
          windowMs: 10_000,
          headers: { dialect: 'ietf' },
        },
        { key: 'sk-test-limits-none-0009', requestsPerWindow: 60, headers: { dialect: 'none' } },
      ],
    });
    open.push(s);
    const results = await probeKeys(
      {
        key_list: ['sk-test-limits-openai-0007', 'sk-test-limits-ietf-0008', 'sk-test-limits-none-0009'].map(
          (api_key) => ({ api_key, base_url: s.url }),
        ),
      },
      { env: {} },
    );
    expect(results.map((r) => r.result)).toEqual(['ok', 'ok', 'ok']);
    expect(results[0]?.limits).toMatchObject({
      dialect: 'openai',
      requestsPerMinute: 500,
      tokensPerMinute: 200_000,
    });
    expect(results[1]?.limits).toMatchObject({ dialect: 'ietf', requestsPerMinute: 360 });
    expect(results[2]?.limits).toBeUndefined();
  });

  it('tells an invalid, a quota-spent, a model-denied and a good key apart, in key_list order', async () => {
    const s = await sim();
    const results = await probeKeys(
      {
        key_list: [
          { api_key: KEYS.invalid, base_url: s.url },
          { api_key: KEYS.spent, base_url: s.url },
          { api_key: KEYS.mini, base_url: s.url },
          { api_key: KEYS.good, base_url: s.url, name: 'team-good' },
        ],
      },
      { env: {} },
    );
    expect(results).toMatchObject([
      { key: 'sk-…0001', result: 'invalid', status: 401, code: 'invalid_api_key' },
      { key: 'sk-…0002', result: 'quota', status: 429, code: 'insufficient_quota' },
      { key: 'sk-…0003', result: 'denied', status: 404, code: 'model_not_found' },
      { key: 'team-good', result: 'ok', status: 200 },
    ]);
    // One cheap request per key, nothing retried.
    const sent = s.requests().filter((r) => r.path === '/v1/chat/completions');
    expect(sent).toHaveLength(4);
    for (const request of sent) expect(request.body).toMatchObject({ model: 'gpt-4o-mini', max_tokens: 1 });
    const text = JSON.stringify(results);
    for (const key of Object.values(KEYS)) expect(text).not.toContain(key);
  });

  it('asks for the model given, so a key limited to it answers ok', async () => {
    const s = await sim();
    const [result] = await probeKeys(
      { key_list: [{ api_key: KEYS.mini, base_url: s.url }] },
      { model: 'gpt-4o', env: {} },
    );
    expect(result).toMatchObject({ key: 'sk-…0003', result: 'ok' });
  });

  it("sends each key's organization, and reports a rate-limited key and an unreachable base URL", async () => {
    const s = await sim();
    s.inject({ kind: 'status', status: 429, key: KEYS.hot, retryAfterMs: 500 });
    const port = await closedPort();
    const results = await probeKeys(
      {
        key_list: [
          { api_key: KEYS.org, base_url: s.url, organization: 'org-sim-probe' },
          { api_key: KEYS.org, base_url: s.url, organization: 'org-wrong' },
          { api_key: KEYS.hot, base_url: s.url },
          { api_key: KEYS.good, base_url: `http://127.0.0.1:${port}/v1` },
        ],
      },
      { env: {} },
    );
    expect(results.map((r) => r.result)).toEqual(['ok', 'invalid', 'rate_limited', 'unreachable']);
    expect(results[1]).toMatchObject({ status: 401, code: 'mismatched_organization' });
    expect(results[3]?.status).toBeUndefined();
    expect(results[3]).toMatchObject({
      baseUrl: `http://127.0.0.1:${port}/v1`,
      code: 'ECONNREFUSED',
      message: expect.stringMatching(/connection/i),
    });
    expect(JSON.stringify(results)).not.toContain(KEYS.good);
  });

  it("a base_url without /v1 is unreachable: the status, its text, the server's message and the full base URL", async () => {
    const s = await sim();
    const base = s.url.replace(/\/v1$/, '');
    const [result] = await probeKeys(
      { key_list: [{ api_key: KEYS.good, base_url: `${base}/` }] },
      { env: {} },
    );
    expect(result).toEqual({
      key: 'sk-…0004',
      baseUrl: base,
      result: 'unreachable',
      status: 404,
      statusText: 'Not Found',
      message: 'Invalid URL (POST /chat/completions)',
    });
  });

  it('refuses an invalid config with the field named, before sending anything', async () => {
    const s = await sim();
    const dir = await tempDir();
    const path = join(dir, 'config.json');
    await writeFile(path, JSON.stringify({ key_list: [{ api_key: KEYS.good, base_url: s.url, rpm: -1 }] }));
    const error = await probeKeys(path, { env: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain('key_list[0].rpm');
    expect((error as ConfigError).message).not.toContain(KEYS.good);
    expect(s.stats().requests).toBe(0);
  });

  it('uses OPENAI_API_KEY when there is no config, like the pool does', async () => {
    const s = await sim();
    const dir = await tempDir();
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const results = await probeKeys(undefined, {
        env: { OPENAI_API_KEY: KEYS.good, OPENAI_BASE_URL: s.url },
      });
      expect(results).toEqual([
        { key: 'sk-…0004', baseUrl: s.url, result: 'ok', status: 200, statusText: 'OK' },
      ]);
    } finally {
      process.chdir(cwd);
    }
  });
});

describe('describeKeys', () => {
  it('lists the pool redacted, with base URL, organization, group, models and limits', async () => {
    const dir = await tempDir();
    const path = join(dir, 'config.json');
    await writeFile(
      path,
      JSON.stringify({
        key_index: 1,
        key_list: [
          { api_key: KEYS.good },
          {
            api_key: KEYS.org,
            name: 'team-b',
            group: 'org-b',
            organization: 'org-b',
            base_url: 'https://proxy.example/v1/',
            rpm: 500,
            tpm: 200000,
            models: ['gpt-4o-mini'],
          },
        ],
        extra: true,
      }),
    );
    const pool = await describeKeys(path, { env: {} });
    expect(pool).toEqual({
      source: path,
      keyIndex: 1,
      keys: [
        { key: 'sk-…0004', baseUrl: 'https://api.openai.com/v1' },
        {
          key: 'team-b',
          group: 'org-b',
          organization: 'org-b',
          baseUrl: 'https://proxy.example/v1',
          rpm: 500,
          tpm: 200000,
          models: ['gpt-4o-mini'],
        },
      ],
      warnings: [`${path}: unknown field extra (ignored)`],
    });
    expect(JSON.stringify(pool)).not.toContain(KEYS.good);
  });
});
