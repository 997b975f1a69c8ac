/**
 * Requests as the real API treats them, through the real `openai` SDK over HTTP: tool calls that
 * let an agent loop end, arguments and structured outputs shaped by their JSON schema,
 * out-of-range parameters refused with the API's own 400 bodies, `n` choices, logprobs, and
 * unknown scenario fields refused by name.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { chat, clientFor, rejectionOf } from './helpers.js';

const KEY = 'sk-requests-key-0001';
let sim: Simulator;
let client: OpenAI;

beforeAll(async () => {
  sim = await startSimulator({ keys: [{ key: KEY }] });
  client = clientFor(sim, KEY);
});
afterAll(async () => {
  await sim.close();
});

const WEATHER_SCHEMA = {
  type: 'object',
  properties: {
    city: { type: 'string' },
    days: { type: 'integer', minimum: 3, maximum: 10 },
    ratio: { type: 'number' },
    metric: { type: 'boolean' },
    unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
    place: {
      type: 'object',
      properties: {
        lat: { type: 'number', minimum: 40 },
        tags: { type: 'array', items: { type: 'string' }, minItems: 2 },
      },
      required: ['lat'],
    },
    when: { type: 'string', format: 'date' },
    kind: { anyOf: [{ type: 'null' }, { $ref: '#/$defs/kind' }] },
  },
  required: ['city', 'days'],
  additionalProperties: false,
  $defs: { kind: { type: 'string', enum: ['rain', 'sun'] } },
};

const tools: OpenAI.ChatCompletionTool[] = [
  { type: 'function', function: { name: 'weather', parameters: WEATHER_SCHEMA } },
  { type: 'function', function: { name: 'other', parameters: { type: 'object' } } },
];

describe('tool calls', () => {
  it('calls a tool with arguments of its JSON schema, then answers text after the tool result: an agent loop ends', async () => {
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'weather in Oslo' }];
    let turns = 0;
    let final: string | null = null;
    while (final === null && turns < 5) {
      turns += 1;
      const completion = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, tools });
      const message = completion.choices[0]?.message;
      if (!message?.tool_calls) {
        final = message?.content ?? '';
        break;
      }
      expect(completion.choices[0]?.finish_reason).toBe('tool_calls');
      const call = message.tool_calls[0];
      if (call?.type !== 'function') throw new Error('expected a function call');
      expect(call.function.name).toBe('weather');
      expect(JSON.parse(call.function.arguments)).toEqual({
        city: 'weather in Oslo',
        days: 3,
        ratio: 0.5,
        metric: true,
        unit: 'celsius',
        place: { lat: 40, tags: ['weather in Oslo', 'weather in Oslo'] },
        when: '2024-01-01',
        kind: 'rain',
      });
      messages.push(message, { role: 'tool', tool_call_id: call.id, content: 'sunny, 21 degrees' });
    }
    expect(turns).toBe(2);
    expect(final).toBe('echo: weather in Oslo');
  });

  it('calls again after a tool result when tool_choice forces it (required, or a named function)', async () => {
    const messages: OpenAI.ChatCompletionMessageParam[] = [
      { role: 'user', content: 'go' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{}' } }],
      },
      { role: 'tool', tool_call_id: 'call_1', content: 'done' },
    ];
    const required = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages,
      tools,
      tool_choice: 'required',
    });
    const first = required.choices[0]?.message.tool_calls?.[0];
    expect(first?.type === 'function' && first.function.name).toBe('weather');
    const named = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages,
      tools,
      tool_choice: { type: 'function', function: { name: 'other' } },
    });
    const call = named.choices[0]?.message.tool_calls?.[0];
    expect(call?.type === 'function' && call.function).toEqual({ name: 'other', arguments: '{"text":"go"}' });
    const auto = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, tools });
    expect(auto.choices[0]?.message).toMatchObject({ content: 'echo: go' });
    expect(auto.choices[0]?.message.tool_calls).toBeUndefined();
  });

  it('ends a responses-API loop after a function_call_output', async () => {
    const responseTools: OpenAI.Responses.FunctionTool[] = [
      { type: 'function', name: 'weather', parameters: WEATHER_SCHEMA, strict: false },
    ];
    const first = await client.responses.create({
      model: 'gpt-4o-mini',
      input: 'weather in Rome',
      tools: responseTools,
    });
    const call = first.output[0];
    if (call?.type !== 'function_call') throw new Error('expected a function call');
    expect(JSON.parse(call.arguments)).toMatchObject({ city: 'weather in Rome', days: 3 });
    const second = await client.responses.create({
      model: 'gpt-4o-mini',
      tools: responseTools,
      input: [
        { role: 'user', content: 'weather in Rome' },
        { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments },
        { type: 'function_call_output', call_id: call.call_id, output: 'sunny' },
      ],
    });
    expect(second.output_text).toBe('echo: weather in Rome');
  });
});

describe('structured outputs', () => {
  it('answers json_object with a JSON object and json_schema with a value of the schema', async () => {
    const object = await chat(client, 'reply in json', { response_format: { type: 'json_object' } });
    expect(JSON.parse(object.choices[0]?.message.content ?? '')).toEqual({ text: 'echo: reply in json' });
    const schema = await chat(client, 'a forecast', {
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'forecast', schema: WEATHER_SCHEMA, strict: true },
      },
    });
    expect(JSON.parse(schema.choices[0]?.message.content ?? '')).toMatchObject({
      city: 'echo: a forecast',
      days: 3,
      unit: 'celsius',
      place: { lat: 40 },
    });
    const response = await client.responses.create({
      model: 'gpt-4o-mini',
      input: 'a forecast',
      text: { format: { type: 'json_schema', name: 'forecast', schema: WEATHER_SCHEMA } },
    });
    expect(JSON.parse(response.output_text)).toMatchObject({ city: 'echo: a forecast', metric: true });
  });
});

describe('parameters', () => {
  async function refusal(body: Record<string, unknown>, path = '/chat/completions') {
    const response = await fetch(`${sim.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], ...body }),
    });
    return { status: response.status, body: (await response.json()) as { error: Record<string, unknown> } };
  }

  it('refuses temperature 5 with the API’s own 400 body naming the parameter', async () => {
    expect(await refusal({ temperature: 5 })).toEqual({
      status: 400,
      body: {
        error: {
          message:
            "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 5 instead.",
          type: 'invalid_request_error',
          param: 'temperature',
          code: 'decimal_above_max_value',
        },
      },
    });
    const error = await rejectionOf(chat(client, 'x', { temperature: 5 }));
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
  });

  it.each([
    [
      { temperature: -0.1 },
      'temperature',
      'decimal_below_min_value',
      'Expected a value >= 0, but got -0.1 instead.',
    ],
    [{ top_p: 1.5 }, 'top_p', 'decimal_above_max_value', 'Expected a value <= 1, but got 1.5 instead.'],
    [{ n: 0 }, 'n', 'integer_below_min_value', 'Expected a value >= 1, but got 0 instead.'],
    [{ n: 129 }, 'n', 'integer_above_max_value', 'Expected a value <= 128, but got 129 instead.'],
    [{ presence_penalty: 2.5 }, 'presence_penalty', 'decimal_above_max_value', 'Expected a value <= 2'],
    [{ frequency_penalty: -3 }, 'frequency_penalty', 'decimal_below_min_value', 'Expected a value >= -2'],
    [
      { max_tokens: 0 },
      'max_tokens',
      'integer_below_min_value',
      "Invalid 'max_tokens': integer below minimum value.",
    ],
    [
      { temperature: 'hot' },
      'temperature',
      'invalid_type',
      "Invalid type for 'temperature': expected a decimal, but got a string instead.",
    ],
    [{ n: 1.5 }, 'n', 'invalid_type', "Invalid type for 'n': expected an integer"],
  ])('refuses %j', async (params, param, code, message) => {
    const { status, body } = await refusal(params);
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ type: 'invalid_request_error', param, code });
    expect(body.error['message']).toContain(message);
  });

  it('refuses max_output_tokens below 16 on the responses endpoint', async () => {
    const { status, body } = await refusal(
      { input: 'x', max_output_tokens: 5, messages: undefined },
      '/responses',
    );
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ param: 'max_output_tokens', code: 'integer_below_min_value' });
  });

  it('answers n choices and logprobs when asked', async () => {
    const completion = await chat(client, 'three ways', { n: 3, logprobs: true, top_logprobs: 2 });
    expect(completion.choices.map((c) => [c.index, c.message.content])).toEqual([
      [0, 'echo: three ways'],
      [1, 'echo: three ways'],
      [2, 'echo: three ways'],
    ]);
    const content = completion.choices[0]?.logprobs?.content ?? [];
    expect(content.map((t) => t.token).join('')).toBe('echo: three ways');
    expect(content[0]).toMatchObject({
      token: 'echo: ',
      logprob: expect.any(Number),
      bytes: [...Buffer.from('echo: ')],
    });
    expect(content[0]?.top_logprobs).toHaveLength(2);
    const plain = await chat(client, 'plain');
    expect(plain.choices[0]?.logprobs).toBeNull();
  });
});

describe('scenario fields', () => {
  it.each([
    [{ keys: [{ key: KEY, qouta: 5 }] }, /`keys\[0\]\.qouta` is not an option of a simulator key/],
    [{ keys: [{ key: KEY }], latency: 5 }, /`latency` is not an option of the simulator/],
    [{ keys: [{ key: KEY }], faults: { errorrate: 0.1 } }, /`faults\.errorrate` is not an option of faults/],
    [{ keys: [{ key: KEY }], batch: { day: 5 } }, /`batch\.day` is not an option of batch/],
  ])('refuses an unknown field, naming it: %j', async (options, message) => {
    const start = startSimulator(options as never);
    await expect(start).rejects.toBeInstanceOf(InputError);
    await expect(start).rejects.toThrow(message);
  });
});
