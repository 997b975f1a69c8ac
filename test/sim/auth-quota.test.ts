import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { chat, clientFor, rejectionOf } from './helpers.js';

const GOOD = 'sk-auth-good-key-0001';
const ORG_KEY = 'sk-auth-org-key-0002';
const MINI_ONLY = 'sk-auth-mini-only-0003';
const QUOTA_KEY = 'sk-auth-quota-key-0004';
const UNKNOWN = 'sk-auth-unknown-secret-9999';
let sim: Simulator;

beforeAll(async () => {
  sim = await startSimulator({
    keys: [
      { key: GOOD },
      { key: ORG_KEY, organization: 'org-alpha' },
      { key: MINI_ONLY, models: ['gpt-4o-mini'] },
      { key: QUOTA_KEY, quota: 2 },
    ],
  });
});
afterAll(async () => {
  await sim.close();
});

describe('authentication', () => {
  it('rejects an unknown key with AuthenticationError invalid_api_key, showing the key only redacted', async () => {
    const error = await rejectionOf(chat(clientFor(sim, UNKNOWN), 'hi'));
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(error['status']).toBe(401);
    expect(error['code']).toBe('invalid_api_key');
    expect(error['type']).toBe('invalid_request_error');
    expect(error.message).toContain('Incorrect API key provided: sk-…9999.');
    expect(error.message).not.toContain(UNKNOWN);
    expect(JSON.stringify(error['error'])).not.toContain(UNKNOWN);
  });

  it('rejects a request without an Authorization header with 401', async () => {
    const response = await fetch(`${sim.url}/models`);
    expect(response.status).toBe(401);
    const body = (await response.json()) as { error: { message: string } };
    expect(body.error.message).toMatch(/didn't provide an API key/);
  });

  it('requires the configured OpenAI-Organization header of a key', async () => {
    const wrong = await rejectionOf(chat(clientFor(sim, ORG_KEY, { organization: 'org-beta' }), 'hi'));
    expect(wrong).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(wrong['code']).toBe('mismatched_organization');
    const missing = await rejectionOf(chat(clientFor(sim, ORG_KEY), 'hi'));
    expect(missing).toBeInstanceOf(OpenAI.AuthenticationError);

    const ok = await chat(clientFor(sim, ORG_KEY, { organization: 'org-alpha' }), 'with org');
    expect(ok.choices[0]?.message.content).toBe('echo: with org');
    const recorded = sim.requests().at(-1);
    expect(recorded).toMatchObject({ organization: 'org-alpha', key: 'sk-…0002', status: 200 });
  });
});

describe('model access', () => {
  it('answers 404 model_not_found for a model the key may not use, and serves the others', async () => {
    const client = clientFor(sim, MINI_ONLY);
    const error = await rejectionOf(chat(client, 'hi', { model: 'gpt-4o' }));
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect(error['code']).toBe('model_not_found');
    expect(error.message).toContain('The model `gpt-4o` does not exist or you do not have access to it.');
    await expect(chat(client, 'hi', { model: 'gpt-4o-mini' })).resolves.toBeDefined();
    expect((await client.models.list()).data.map((m) => m.id)).toEqual(['gpt-4o-mini']);
  });

  it('answers a model it does not know with the API’s own 404 body, and a key without a model list uses any known one', async () => {
    const response = await fetch(`${sim.url}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${GOOD}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'some-future-model', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({
      error: {
        message: 'The model `some-future-model` does not exist or you do not have access to it.',
        type: 'invalid_request_error',
        param: null,
        code: 'model_not_found',
      },
    });
    for (const model of ['gpt-4.1', 'o3-mini', 'gpt-3.5-turbo', 'gpt-4o-2024-08-06']) {
      expect((await chat(clientFor(sim, GOOD), 'hi', { model })).model).toBe(model);
    }
    expect(await clientFor(sim, GOOD).models.retrieve('gpt-4.1')).toMatchObject({ id: 'gpt-4.1' });
    expect(await rejectionOf(clientFor(sim, GOOD).models.retrieve('some-future-model'))).toBeInstanceOf(
      OpenAI.NotFoundError,
    );
    const embedding = await rejectionOf(
      clientFor(sim, GOOD).embeddings.create({ model: 'text-embedding-9', input: 'x' }),
    );
    expect(embedding).toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('accepts a model the `models` option lists, beside the known ones', async () => {
    const listed = await startSimulator({ keys: [{ key: GOOD }], models: ['some-future-model'] });
    try {
      const completion = await chat(clientFor(listed, GOOD), 'hi', { model: 'some-future-model' });
      expect(completion.model).toBe('some-future-model');
      expect((await chat(clientFor(listed, GOOD), 'hi', { model: 'gpt-4o' })).model).toBe('gpt-4o');
      expect((await clientFor(listed, GOOD).models.list()).data.map((m) => m.id)).toEqual([
        'some-future-model',
      ]);
    } finally {
      await listed.close();
    }
  });
});

describe('quota', () => {
  it('answers RateLimitError insufficient_quota past the quota, without retry headers', async () => {
    const client = clientFor(sim, QUOTA_KEY);
    await chat(client, 'one');
    await chat(client, 'two');
    const before = sim.stats().rateLimited;
    const error = await rejectionOf(chat(client, 'three'));
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error['code']).toBe('insufficient_quota');
    expect(error['type']).toBe('insufficient_quota');
    expect(error.message).toContain(
      'You exceeded your current quota, please check your plan and billing details.',
    );
    expect((error['headers'] as Headers).get('retry-after-ms')).toBeNull();
    // Still exhausted afterwards, and not counted as a rate limit.
    await expect(chat(client, 'four')).rejects.toBeInstanceOf(OpenAI.RateLimitError);
    expect(sim.stats().rateLimited).toBe(before);
    expect(sim.stats().byKey['sk-…0004']).toMatchObject({ successes: 2, byStatus: { '200': 2, '429': 2 } });
  });

  it('failed requests do not use quota', async () => {
    const local = await startSimulator({ keys: [{ key: 'sk-quota-fail-0005', quota: 1 }] });
    try {
      const client = clientFor(local, 'sk-quota-fail-0005');
      await expect(chat(client, 'boom [[sim:500]]')).rejects.toBeInstanceOf(OpenAI.InternalServerError);
      await expect(chat(client, 'fine')).resolves.toBeDefined();
      await expect(chat(client, 'over')).rejects.toBeInstanceOf(OpenAI.RateLimitError);
    } finally {
      await local.close();
    }
  });
});

describe('options validation', () => {
  it('refuses invalid options with an InputError naming the option', async () => {
    await expect(startSimulator({ keys: [{ key: 'sk-x-00000001', quota: -1 }] })).rejects.toThrow(
      /`keys\[0\]\.quota` must be an integer >= 0, got `-1` \(number\)/,
    );
    await expect(startSimulator({ keys: [], latencyMs: { min: 5, max: 1 } })).rejects.toBeInstanceOf(
      InputError,
    );
    await expect(startSimulator({ keys: [], faults: { errorRate: 2 } })).rejects.toThrow(/faults\.errorRate/);
  });

  it('names a repeated key only redacted', async () => {
    const secret = 'sk-repeated-secret-7777';
    const error = await rejectionOf(startSimulator({ keys: [{ key: secret }, { key: secret }] }));
    expect(error).toBeInstanceOf(InputError);
    expect(error.message).toContain('sk-…7777');
    expect(error.message).not.toContain(secret);
  });
});

describe('key privacy', () => {
  it('never shows a full key in stats or the request log', () => {
    const dump = JSON.stringify([sim.stats(), sim.requests()]);
    for (const key of [GOOD, ORG_KEY, MINI_ONLY, QUOTA_KEY, UNKNOWN]) expect(dump).not.toContain(key);
    expect(Object.keys(sim.stats().byKey)).toEqual(expect.arrayContaining(['sk-…0001', 'sk-…0002']));
  });
});
