import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { type Simulator, type SimulatorOptions, startSimulator } from '../../src/sim/index.js';
import { chat, clientFor, rejectionOf, until } from './helpers.js';

const KEY = 'sk-faults-key-0001';
const OTHER = 'sk-faults-key-0002';
let sim: Simulator | undefined;

async function start(options: Partial<SimulatorOptions> = {}): Promise<{ sim: Simulator; client: OpenAI }> {
  sim = await startSimulator({ keys: [{ key: KEY }, { key: OTHER }], ...options });
  return { sim, client: clientFor(sim, KEY) };
}
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

describe('triggers in the user text', () => {
  it('[[sim:400]] answers BadRequestError context_length_exceeded on messages', async () => {
    const { client } = await start();
    const error = await rejectionOf(chat(client, 'too long [[sim:400]]'));
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error['code']).toBe('context_length_exceeded');
    expect(error['type']).toBe('invalid_request_error');
    expect(error['param']).toBe('messages');
  });

  it('[[sim:500x2]] fails the first two times this exact text is seen, then answers', async () => {
    const { sim, client } = await start();
    const text = 'flaky [[sim:500x2]]';
    await expect(chat(client, text)).rejects.toBeInstanceOf(OpenAI.InternalServerError);
    await expect(chat(client, text)).rejects.toBeInstanceOf(OpenAI.InternalServerError);
    const answer = await chat(client, text);
    expect(answer.choices[0]?.message.content).toBe(`echo: ${text}`);
    expect(sim.stats().answered).toEqual({ [text]: 1 });
    expect(sim.stats().byStatus).toEqual({ '500': 2, '200': 1 });
  });

  it('[[sim:500]] fails every time; other statuses map to the SDK error classes', async () => {
    const { client } = await start();
    for (let i = 0; i < 3; i++)
      await expect(chat(client, 'x [[sim:500]]')).rejects.toBeInstanceOf(OpenAI.InternalServerError);
    const unavailable = await rejectionOf(chat(client, 'y [[sim:503x1]]'));
    expect(unavailable).toMatchObject({ status: 503 });
    const timeout = await rejectionOf(chat(client, 'z [[sim:408x1]]'));
    expect(timeout).toBeInstanceOf(OpenAI.APIError);
    expect(timeout['status']).toBe(408);
    await expect(chat(client, 'w [[sim:409x1]]')).rejects.toBeInstanceOf(OpenAI.ConflictError);
    await expect(chat(client, 'y [[sim:503x1]]')).resolves.toBeDefined();
  });

  it('[[sim:drop]] destroys the connection: APIConnectionError', async () => {
    const { sim, client } = await start();
    const error = await rejectionOf(chat(client, 'gone [[sim:dropx1]]'));
    expect(error).toBeInstanceOf(OpenAI.APIConnectionError);
    expect(error).not.toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
    expect(sim.stats()).toMatchObject({ dropped: 1, requests: 1, byStatus: {} });
    await expect(chat(client, 'gone [[sim:dropx1]]')).resolves.toBeDefined();
  });

  it('[[sim:hang]] never answers: the client times out', async () => {
    const { sim, client } = await start();
    // Generous: on a busy machine the request may take a while to reach the simulator at all.
    const pending = rejectionOf(
      client.chat.completions.create(
        { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'stuck [[sim:hang]]' }] },
        { timeout: 3000 },
      ),
    );
    await until(() => sim.stats().hung === 1, 20_000, 'the request to reach the simulator');
    expect(await pending).toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
    expect(sim.stats()).toMatchObject({ hung: 1, byStatus: {} });
  });

  it('[[sim:sleep=N]] adds N ms before answering', async () => {
    const { client } = await start();
    const started = performance.now();
    await chat(client, 'slow [[sim:sleep=150]]');
    expect(performance.now() - started).toBeGreaterThanOrEqual(145);
  });

  it('prompt tokens over contextLimit answer context_length_exceeded', async () => {
    const { client } = await start({ contextLimit: 10 });
    await expect(chat(client, 'x'.repeat(40))).resolves.toBeDefined();
    const error = await rejectionOf(chat(client, 'x'.repeat(41)));
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error['code']).toBe('context_length_exceeded');
    expect(error.message).toContain('maximum context length is 10 tokens');
  });
});

describe('injected faults', () => {
  it('fails the next `count` requests with the status, then serves normally', async () => {
    const { sim, client } = await start();
    sim.inject({ kind: 'status', status: 502, count: 2 });
    await expect(chat(client, 'a')).rejects.toMatchObject({ status: 502 });
    await expect(client.models.list()).rejects.toMatchObject({ status: 502 });
    await expect(chat(client, 'a')).resolves.toBeDefined();
  });

  it('only fails requests of the named key', async () => {
    const { sim, client } = await start();
    sim.inject({ kind: 'status', status: 503, key: OTHER });
    await expect(chat(client, 'a')).resolves.toBeDefined();
    await expect(chat(clientFor(sim, OTHER), 'a')).rejects.toBeInstanceOf(OpenAI.InternalServerError);
    await expect(chat(clientFor(sim, OTHER), 'a')).resolves.toBeDefined();
  });

  it('an injected 429 advertises its retry-after-ms and counts as rate limited', async () => {
    const { sim, client } = await start();
    sim.inject({ kind: 'status', status: 429, retryAfterMs: 250 });
    const error = await rejectionOf(chat(client, 'a'));
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error['code']).toBe('rate_limit_exceeded');
    expect((error['headers'] as Headers).get('retry-after-ms')).toBe('250');
    expect(sim.stats().rateLimited).toBe(1);
  });

  it('drops and hangs on demand; a client timeout ends a hang', async () => {
    const { sim, client } = await start();
    sim.inject({ kind: 'drop' });
    await expect(chat(client, 'a')).rejects.toBeInstanceOf(OpenAI.APIConnectionError);
    sim.inject({ kind: 'hang' });
    const pending = rejectionOf(
      client.chat.completions.create(
        { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'wait' }] },
        { timeout: 3000 },
      ),
    );
    await until(() => sim.stats().hung === 1, 20_000, 'the request to reach the simulator');
    expect(await pending).toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
    expect(sim.stats()).toMatchObject({ dropped: 1, hung: 1 });
  });
});

describe('random faults', () => {
  async function outcomes(seed: number): Promise<string[]> {
    const local = await startSimulator({
      keys: [{ key: KEY }],
      faults: { errorRate: 0.3, dropRate: 0.2, seed },
    });
    try {
      const client = clientFor(local, KEY);
      const results: string[] = [];
      for (let i = 0; i < 30; i++) {
        try {
          await chat(client, `r${i}`);
          results.push('ok');
        } catch (error) {
          results.push(
            error instanceof OpenAI.APIConnectionError
              ? 'drop'
              : String((error as { status?: number }).status),
          );
        }
      }
      return results;
    } finally {
      await local.close();
    }
  }

  it('injects 500s and drops at about the configured rates, identically for the same seed', async () => {
    const first = await outcomes(42);
    expect(await outcomes(42)).toEqual(first);
    expect(first).toContain('ok');
    expect(first).toContain('500');
    expect(first).toContain('drop');
    expect(await outcomes(43)).not.toEqual(first);
  });
});

describe('latency and close', () => {
  it('adds the configured latency before answering', async () => {
    const { client } = await start({ latencyMs: { min: 60, max: 80 } });
    const started = performance.now();
    const { response } = await chat(client, 'a').withResponse();
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
    expect(Number(response.headers.get('openai-processing-ms'))).toBeGreaterThanOrEqual(60);
  });

  it('close() resolves promptly with a hung request and keep-alive connections open', async () => {
    const { sim: s, client } = await start();
    await chat(client, 'keep-alive');
    const hung = client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: '[[sim:hang]]' }],
    });
    const settled = hung.then(
      () => 'resolved',
      (error: unknown) => error,
    );
    await until(() => s.stats().hung === 1);
    const started = performance.now();
    await s.close();
    // Promptly: not after the hang (forever) or the latency (10 s); generous for a busy machine.
    expect(performance.now() - started).toBeLessThan(5000);
    expect(await settled).toBeInstanceOf(OpenAI.APIConnectionError);
    sim = undefined;
  });

  it('close() resolves promptly while answers wait on latency', async () => {
    const { sim: s, client } = await start({ latencyMs: 10_000 });
    const pending = chat(client, 'slow').catch((error: unknown) => error);
    await until(() => s.requests().length === 1);
    const started = performance.now();
    await s.close();
    expect(performance.now() - started).toBeLessThan(5000);
    expect(await pending).toBeInstanceOf(OpenAI.APIConnectionError);
    sim = undefined;
  });
});
