import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { chat, clientFor, rejectionOf } from './helpers.js';

const KEY = 'sk-endpoints-0001';
let sim: Simulator;
let client: OpenAI;

beforeAll(async () => {
  sim = await startSimulator({ keys: [{ key: KEY }] });
  client = clientFor(sim, KEY);
});
afterAll(async () => {
  await sim.close();
});

function lastRequest() {
  const all = sim.requests();
  return all[all.length - 1];
}

describe('chat completions', () => {
  it('echoes the last user message with usage estimated at 4 characters per token', async () => {
    const completion = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'first question' },
        { role: 'assistant', content: 'an answer' },
        { role: 'user', content: 'second question' },
      ],
    });
    expect(completion.object).toBe('chat.completion');
    expect(completion.model).toBe('gpt-4o');
    expect(completion.id).toMatch(/^chatcmpl-/);
    expect(completion.system_fingerprint).toBeTruthy();
    expect(completion.choices[0]?.message.content).toBe('echo: second question');
    expect(completion.choices[0]?.finish_reason).toBe('stop');
    const chars = 'be brief'.length + 'first question'.length + 'an answer'.length + 'second question'.length;
    expect(completion.usage).toMatchObject({
      prompt_tokens: Math.ceil(chars / 4),
      completion_tokens: Math.ceil('echo: second question'.length / 4),
    });
    expect(completion.usage?.total_tokens).toBe(
      (completion.usage?.prompt_tokens ?? 0) + (completion.usage?.completion_tokens ?? 0),
    );
  });

  it('reads the text parts of a multi-part user message', async () => {
    const completion = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'part one' }] }],
    });
    expect(completion.choices[0]?.message.content).toBe('echo: part one');
  });

  it('records the request parameters exactly as sent', async () => {
    const responseFormat = {
      type: 'json_schema',
      json_schema: { name: 'x', schema: { type: 'object' } },
    } as const;
    await chat(client, 'params', { temperature: 0.3, top_p: 0.5, seed: 7, response_format: responseFormat });
    expect(lastRequest()).toMatchObject({
      method: 'POST',
      path: '/v1/chat/completions',
      status: 200,
      body: { model: 'gpt-4o-mini', temperature: 0.3, top_p: 0.5, seed: 7, response_format: responseFormat },
    });
  });

  it('calls the first tool with the user text as arguments', async () => {
    const tools: OpenAI.ChatCompletionTool[] = [
      { type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } },
      { type: 'function', function: { name: 'other', parameters: { type: 'object' } } },
    ];
    const completion = await chat(client, 'find it', { tools });
    const choice = completion.choices[0];
    expect(choice?.finish_reason).toBe('tool_calls');
    expect(choice?.message.content).toBeNull();
    const call = choice?.message.tool_calls?.[0];
    expect(call?.type === 'function' && call.function).toEqual({
      name: 'lookup',
      arguments: JSON.stringify({ text: 'find it' }),
    });
    expect(lastRequest()?.body).toMatchObject({ tools });
  });

  it('calls the tool tool_choice names, and no tool with tool_choice none', async () => {
    const tools: OpenAI.ChatCompletionTool[] = [
      { type: 'function', function: { name: 'a' } },
      { type: 'function', function: { name: 'b' } },
    ];
    const named = await chat(client, 'x', {
      tools,
      tool_choice: { type: 'function', function: { name: 'b' } },
    });
    const call = named.choices[0]?.message.tool_calls?.[0];
    expect(call?.type === 'function' && call.function.name).toBe('b');
    const none = await chat(client, 'x', { tools, tool_choice: 'none' });
    expect(none.choices[0]?.message.content).toBe('echo: x');
    expect(none.choices[0]?.finish_reason).toBe('stop');
  });

  it('streams chunks that add up to the answer, then a usage chunk when asked', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'a streamed answer of several words' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | null | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks += 1;
      expect(chunk.object).toBe('chat.completion.chunk');
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(chunks).toBeGreaterThan(3);
    expect(text).toBe('echo: a streamed answer of several words');
    expect(finish).toBe('stop');
    expect(usage?.completion_tokens).toBe(Math.ceil(text.length / 4));
  });

  it('streams a tool call whose argument deltas add up to the arguments', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'stream a tool call' }],
      tools: [{ type: 'function', function: { name: 'lookup' } }],
      stream: true,
    });
    let args = '';
    let name: string | undefined;
    let finish: string | null = null;
    for await (const chunk of stream) {
      const call = chunk.choices[0]?.delta.tool_calls?.[0];
      name ??= call?.function?.name;
      args += call?.function?.arguments ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      expect(chunk.usage).toBeUndefined();
    }
    expect(name).toBe('lookup');
    expect(JSON.parse(args)).toEqual({ text: 'stream a tool call' });
    expect(finish).toBe('tool_calls');
  });
});

describe('responses', () => {
  it('answers a string input with a completed response and usage', async () => {
    const response = await client.responses.create({ model: 'gpt-4o-mini', input: 'hello responses' });
    expect(response.object).toBe('response');
    expect(response.status).toBe('completed');
    expect(response.output_text).toBe('echo: hello responses');
    expect(response.output[0]).toMatchObject({ type: 'message', role: 'assistant' });
    expect(response.usage).toMatchObject({
      input_tokens: Math.ceil('hello responses'.length / 4),
      output_tokens: Math.ceil('echo: hello responses'.length / 4),
    });
  });

  it('answers the last user message of a message array', async () => {
    const response = await client.responses.create({
      model: 'gpt-4o-mini',
      input: [
        { role: 'user', content: 'earlier' },
        { role: 'user', content: [{ type: 'input_text', text: 'latest' }] },
      ],
    });
    expect(response.output_text).toBe('echo: latest');
  });

  it('streams events ending with response.completed', async () => {
    const stream = await client.responses.create({
      model: 'gpt-4o-mini',
      input: 'stream me please',
      stream: true,
    });
    const types: string[] = [];
    let deltas = '';
    let completed: OpenAI.Responses.Response | undefined;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.output_text.delta') deltas += event.delta;
      if (event.type === 'response.completed') completed = event.response;
    }
    expect(types[0]).toBe('response.created');
    expect(types.at(-1)).toBe('response.completed');
    expect(deltas).toBe('echo: stream me please');
    expect(completed?.status).toBe('completed');
  });
});

describe('completions', () => {
  it('echoes the prompt as choices[].text', async () => {
    const completion = await client.completions.create({
      model: 'gpt-3.5-turbo-instruct',
      prompt: 'once upon',
    });
    expect(completion.object).toBe('text_completion');
    expect(completion.choices[0]?.text).toBe('echo: once upon');
    expect(completion.usage?.prompt_tokens).toBe(Math.ceil('once upon'.length / 4));
  });

  it('streams the prompt echo', async () => {
    const stream = await client.completions.create({
      model: 'gpt-3.5-turbo-instruct',
      prompt: 'streamed prompt text',
      stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    expect(text).toBe('echo: streamed prompt text');
  });
});

describe('embeddings', () => {
  it('returns a deterministic unit vector per input, 8 dimensions by default', async () => {
    const first = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: ['alpha', 'beta'],
    });
    const again = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'alpha' });
    expect(first.data).toHaveLength(2);
    const alpha = first.data[0]?.embedding ?? [];
    expect(alpha).toHaveLength(8);
    expect(Math.hypot(...alpha)).toBeCloseTo(1, 5);
    expect(again.data[0]?.embedding).toEqual(alpha);
    expect(first.data[1]?.embedding).not.toEqual(alpha);
  });

  it('gives the same floats in base64 (the SDK default) and float encoding, with `dimensions`', async () => {
    const viaBase64 = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: 'x',
      dimensions: 16,
    });
    expect(lastRequest()?.body).toMatchObject({ encoding_format: 'base64' });
    const viaFloat = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: 'x',
      dimensions: 16,
      encoding_format: 'float',
    });
    expect(viaBase64.data[0]?.embedding).toHaveLength(16);
    expect(viaBase64.data[0]?.embedding).toEqual(viaFloat.data[0]?.embedding);
  });
});

describe('models and files', () => {
  it('lists the served models and retrieves one', async () => {
    const page = await client.models.list();
    expect(page.data.map((m) => m.id)).toEqual([
      'gpt-4o-mini',
      'gpt-4o',
      'text-embedding-3-small',
      'gpt-3.5-turbo-instruct',
    ]);
    const model = await client.models.retrieve('gpt-4o');
    expect(model).toMatchObject({ id: 'gpt-4o', object: 'model' });
    const error = await rejectionOf(client.models.retrieve('no-such-model'));
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect(error['code']).toBe('model_not_found');
  });

  it('accepts a multipart upload, counts its bytes and lists it', async () => {
    const content = Buffer.from('{"custom_id":"1"}\n{"custom_id":"2"}\n');
    const file = await client.files.create({ file: await toFile(content, 'batch.jsonl'), purpose: 'batch' });
    expect(file).toMatchObject({
      object: 'file',
      bytes: content.length,
      filename: 'batch.jsonl',
      purpose: 'batch',
    });
    expect(file.id).toMatch(/^file-/);
    const other = await client.files.create({
      file: await toFile(Buffer.from('x'), 'b.jsonl'),
      purpose: 'batch',
    });
    expect(other.id).not.toBe(file.id);
    const listed = await client.files.list();
    expect(listed.data.map((f) => f.id)).toEqual(expect.arrayContaining([file.id, other.id]));
    expect(await client.files.retrieve(file.id)).toEqual(file);
  });
});

describe('malformed requests', () => {
  it('answers an unknown path with a 404 JSON error', async () => {
    const response = await fetch(`${sim.url}/nothing/here`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({
      error: {
        message: 'Invalid URL (GET /v1/nothing/here)',
        type: 'invalid_request_error',
        param: null,
        code: null,
      },
    });
  });

  it('answers a body that is not JSON with 400', async () => {
    const response = await fetch(`${sim.url}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: '{"model": "gpt-4o-mini", "messages": [',
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { type: string; message: string } };
    expect(body.error.type).toBe('invalid_request_error');
    expect(body.error.message).toMatch(/could not parse the JSON body/);
    expect(lastRequest()).toMatchObject({ body: null, status: 400 });
  });

  it('answers a chat request without messages with a 400 naming the parameter', async () => {
    const error = await rejectionOf(
      client.chat.completions.create({
        model: 'gpt-4o-mini',
      } as OpenAI.ChatCompletionCreateParamsNonStreaming),
    );
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error['param']).toBe('messages');
  });
});
