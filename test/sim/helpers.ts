/** Shared helpers for the simulator tests: real `openai` clients over real HTTP. */
import OpenAI from 'openai';
import { afterEach } from 'vitest';
import { type Simulator, type SimulatorOptions, startSimulator } from '../../src/sim/index.js';

/** `start(options)` starts a simulator that is closed after the test. */
export function useSimulator(): (options: SimulatorOptions) => Promise<Simulator> {
  let sim: Simulator | undefined;
  afterEach(async () => {
    await sim?.close();
    sim = undefined;
  });
  return async (options) => {
    await sim?.close();
    sim = await startSimulator(options);
    return sim;
  };
}

export function clientFor(sim: Simulator, apiKey: string, options: { organization?: string } = {}): OpenAI {
  return new OpenAI({ apiKey, baseURL: sim.url, maxRetries: 0, ...options });
}

export function chat(
  client: OpenAI,
  text: string,
  extra: Partial<OpenAI.ChatCompletionCreateParamsNonStreaming> = {},
) {
  return client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: text }],
    ...extra,
  });
}

/** The error a promise rejects with (fails the test if it resolves). */
export async function rejectionOf(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await promise;
  } catch (error) {
    return error as Error & Record<string, unknown>;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

/** Polls until the condition holds (generous default: a busy machine is slow). */
export { until } from '../helpers.js';

/** Header names of a response that describe rate limits, sorted. */
export function limitHeaderNames(headers: Headers): string[] {
  return [...headers.keys()].filter((name) => /ratelimit|retry-after/.test(name)).sort();
}

/** Sends `count` requests one after another and returns the next one's rejection. */
export async function exhaust(client: OpenAI, count: number) {
  for (let i = 0; i < count; i += 1) await chat(client, `fill ${i}`);
  return rejectionOf(chat(client, 'one too many'));
}
