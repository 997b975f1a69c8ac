/**
 * Requests and outputs as users write them (issue 13), against the simulator over HTTP with the
 * real SDK: a record's own parameters are sent, parameters mapped or refused per endpoint, every
 * choice kept, logprobs, raw bodies, Batch API output lines, and the item id on every audit line.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type PromptInput, runPrompts } from '../../src/prompts/index.js';
import { MODEL, readRows, usePromptSetup } from './helpers.js';

const setup = usePromptSetup();

const WEATHER = {
  type: 'function',
  function: {
    name: 'weather',
    description: 'the weather of a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' } },
      required: ['city'],
      additionalProperties: false,
    },
  },
};

type Json = Record<string, unknown>;

/** The bodies the simulator received, by the text of their last user message or input. */
function bodies(s: Awaited<ReturnType<typeof setup>>): Json[] {
  return s.sim
    .requests()
    .filter((r) => r.method === 'POST')
    .map((r) => r.body as Json);
}

describe("a record's own request parameters", () => {
  it('sends tools, tool_choice, temperature and params entries; a record wins over the run', async () => {
    const s = await setup();
    const prompts = [
      { id: 'a', prompt: 'weather in Paris?', tools: [WEATHER], tool_choice: 'required', temperature: 0.2 },
      { id: 'b', prompt: 'plain', params: { top_p: 0.5, seed: 7 } },
    ];
    await runPrompts(s.config, prompts, s.options({ params: { temperature: 0.9 } }));
    const sent = bodies(s);
    const a = sent.find((b) => JSON.stringify(b).includes('Paris'))!;
    expect(a).toMatchObject({ model: MODEL, tool_choice: 'required', temperature: 0.2 });
    expect(a['tools']).toEqual([WEATHER]);
    const b = sent.find((b) => JSON.stringify(b).includes('plain'))!;
    expect(b).toMatchObject({ top_p: 0.5, seed: 7, temperature: 0.9 });
    expect(b).not.toHaveProperty('params');
    const rows = await readRows(s.output);
    expect(rows[0]!['tool_calls']).toEqual([
      expect.objectContaining({ type: 'function', function: expect.objectContaining({ name: 'weather' }) }),
    ]);
  });

  it('an agent loop with tools ends: after the tool result the answer is text', async () => {
    const s = await setup();
    const user = { role: 'user', content: 'weather in Oslo?' };
    await runPrompts(s.config, [{ id: 1, messages: [user], tools: [WEATHER] }], s.options());
    const [first] = await readRows(s.output);
    const calls = first!['tool_calls'] as Array<{ id: string; function: { arguments: string } }>;
    expect(calls).toHaveLength(1);
    expect(typeof JSON.parse(calls[0]!.function.arguments).city).toBe('string');
    const turn = [
      user,
      { role: 'assistant', content: null, tool_calls: calls },
      { role: 'tool', tool_call_id: calls[0]!.id, content: '{"sky":"clear"}' },
    ];
    await runPrompts(
      s.config,
      [{ id: 1, messages: turn, tools: [WEATHER], tool_choice: 'auto' }],
      s.options({ resume: false }),
    );
    const [second] = await readRows(s.output);
    expect(second!['tool_calls']).toBeUndefined();
    expect(second!['finish_reason']).toBe('stop');
    expect(typeof second!['response']).toBe('string');
  });
});

describe('parameters per endpoint', () => {
  it('sends max_tokens as max_output_tokens to responses', async () => {
    const s = await setup();
    await runPrompts(
      s.config,
      [{ prompt: 'hi' }, { prompt: 'own', max_tokens: 9 }],
      s.options({ endpoint: 'responses', params: { max_tokens: 5 } }),
    );
    const sent = bodies(s);
    expect(sent.map((b) => b['max_output_tokens']).sort()).toEqual([5, 9]);
    for (const body of sent) expect(body).not.toHaveProperty('max_tokens');
  });

  it('refuses max_tokens on embeddings before anything is sent, naming parameter and endpoint', async () => {
    const s = await setup();
    const run = runPrompts(
      s.config,
      [{ prompt: 'x' }],
      s.options({ endpoint: 'embeddings', model: 'text-embedding-3-small', params: { max_tokens: 5 } }),
    );
    await expect(run).rejects.toThrow(/"max_tokens" is not a parameter of the embeddings endpoint/);
    expect(s.sim.requests()).toHaveLength(0);
  });

  it('applies run-level temperature and max_tokens to the rows that take them, and leaves an embeddings line of a mixed file alone', async () => {
    const s = await setup();
    const summary = await runPrompts(
      s.config,
      [
        { id: 'chat', prompt: 'hi' },
        {
          custom_id: 'emb',
          method: 'POST',
          url: '/v1/embeddings',
          body: { model: 'text-embedding-3-small', input: 'embed me' },
        },
      ],
      s.options({ params: { temperature: 0.3, max_tokens: 7 } }),
    );
    expect(summary).toMatchObject({ done: 2, failed: 0 });
    const sent = bodies(s);
    const chat = sent.find((body) => body['messages'] !== undefined)!;
    const embeddings = sent.find((body) => body['input'] !== undefined)!;
    expect(chat).toMatchObject({ temperature: 0.3, max_tokens: 7 });
    expect(embeddings).not.toHaveProperty('temperature');
    expect(embeddings).not.toHaveProperty('max_tokens');
  });

  it("refuses a record's parameter its endpoint does not take, naming file and line", async () => {
    const s = await setup();
    const input = join(s.dir, 'in.jsonl');
    await writeFile(input, '{"prompt":"a"}\n{"prompt":"b","n":2}\n');
    await expect(runPrompts(s.config, input, s.options({ endpoint: 'responses' }))).rejects.toThrow(
      `${input}:2: "n" is not a parameter of the responses endpoint`,
    );
    expect(s.sim.requests()).toHaveLength(0);
  });
});

describe('what an output row keeps', () => {
  it('keeps every choice with n > 1, logprobs when asked, and the raw answer with raw', async () => {
    const s = await setup();
    await runPrompts(
      s.config,
      [{ prompt: 'three', n: 3, logprobs: true, top_logprobs: 2 }, { prompt: 'one' }],
      s.options({ raw: true }),
    );
    const [three, one] = await readRows(s.output);
    const raw = three!['raw'] as { choices: Array<{ message: { content: string }; logprobs: unknown }> };
    expect(raw.choices).toHaveLength(3);
    expect(three!['responses']).toEqual(raw.choices.map((c) => c.message.content));
    expect(three!['response']).toBe(raw.choices[0]!.message.content);
    expect(three!['logprobs']).toEqual(raw.choices[0]!.logprobs);
    expect(three!['logprobs']).toHaveProperty('content');
    expect(one).not.toHaveProperty('responses');
    expect(one).not.toHaveProperty('logprobs');
    expect(one!['raw']).toHaveProperty('object', 'chat.completion');
  });

  it("writes the Batch API's output lines in input order with format 'batch'", async () => {
    const s = await setup();
    const prompts: PromptInput[] = [
      {
        custom_id: 'req-1',
        method: 'POST',
        url: '/v1/chat/completions',
        body: { messages: [{ role: 'user', content: 'one' }] },
      },
      { id: 'bad', prompt: 'too hot', temperature: 5 },
      { prompt: 'third' },
    ];
    await runPrompts(s.config, prompts, s.options({ format: 'batch' }));
    const lines = await readRows(s.output);
    expect(lines.map((l) => l['custom_id'])).toEqual(['req-1', 'bad', '2']);
    for (const line of lines) {
      // The BatchRequestOutput shape: id, custom_id, response {status_code, request_id, body} | null, error {code, message} | null.
      expect(Object.keys(line).sort()).toEqual(['custom_id', 'error', 'id', 'response']);
      expect(line['id']).toMatch(/^batch_req_/);
      const response = line['response'] as Json;
      expect(Object.keys(response).sort()).toEqual(['body', 'request_id', 'status_code']);
      expect(response['request_id']).toMatch(/^req_/);
    }
    const [ok, bad, third] = lines as Array<{ response: Json; error: Json | null }>;
    expect(ok!.response['status_code']).toBe(200);
    expect(ok!.error).toBeNull();
    expect(ok!.response['body']).toMatchObject({ object: 'chat.completion' });
    expect(third!.response['body']).toMatchObject({ object: 'chat.completion' });
    expect(bad!.response['status_code']).toBe(400);
    expect(bad!.response['body']).toMatchObject({ error: { param: 'temperature' } });
    expect(bad!.error).toMatchObject({ message: expect.stringContaining('temperature') });
  });
});

describe('the audit log', () => {
  it("carries each item's id on every line", async () => {
    const s = await setup();
    const logDir = join(s.dir, 'logs');
    const prompts: PromptInput[] = [
      { id: 'first', prompt: 'a' },
      {
        custom_id: 'second',
        method: 'POST',
        url: '/v1/chat/completions',
        body: { messages: [{ role: 'user', content: 'b [[sim:500x1]]' }] },
      },
      { prompt: 'c' },
    ];
    await runPrompts(s.config, prompts, s.options({ logDir }));
    const [file] = await readdir(logDir);
    const lines = (await readFile(join(logDir, file!), 'utf8'))
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Json);
    expect(lines).toHaveLength(4);
    const idOf = (text: string) =>
      lines.filter((l) => JSON.stringify(l['request']).includes(text)).map((l) => l['id']);
    expect(idOf('"a"')).toEqual(['first']);
    expect(idOf('b [[sim')).toEqual(['second', 'second']);
    expect(idOf('"c"')).toEqual([2]);
  });
});
