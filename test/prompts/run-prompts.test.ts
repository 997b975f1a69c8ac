import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runPrompts } from '../../src/prompts/index.js';
import { bodies, MODEL, readRows, usePromptSetup } from './helpers.js';

const setup = usePromptSetup();
const SUCCESS_KEYS = ['id', 'system_prompt', 'prompt', 'response', 'model', 'usage', 'finish_reason'];

const bySentText = (list: Array<Record<string, unknown>>, field: string) =>
  [...list].sort((a, b) => JSON.stringify(a[field]).localeCompare(JSON.stringify(b[field])));

describe('runPrompts input shapes', () => {
  it('answers prompt records on chat with one contract row per record, in input order, ids kept with their type', async () => {
    const s = await setup();
    const summary = await runPrompts(
      s.config,
      [
        { id: 10, prompt: 'alpha' },
        { id: 'b-2', system: 'Be brief.', prompt: 'bravo' },
        { prompt: 'charlie' },
      ],
      s.options(),
    );
    const rows = await readRows(s.output);
    expect(rows).toEqual([
      {
        id: 10,
        system_prompt: null,
        prompt: 'alpha',
        response: 'echo: alpha',
        model: MODEL,
        usage: expect.objectContaining({ total_tokens: expect.any(Number) }),
        finish_reason: 'stop',
      },
      expect.objectContaining({
        id: 'b-2',
        system_prompt: 'Be brief.',
        prompt: 'bravo',
        response: 'echo: bravo',
      }),
      expect.objectContaining({ id: 2, system_prompt: null, prompt: 'charlie', response: 'echo: charlie' }),
    ]);
    for (const row of rows) expect(Object.keys(row)).toEqual(SUCCESS_KEYS);
    expect(bySentText(bodies(s.sim), 'messages')).toEqual([
      {
        model: MODEL,
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'bravo' },
        ],
      },
      { model: MODEL, messages: [{ role: 'user', content: 'alpha' }] },
      { model: MODEL, messages: [{ role: 'user', content: 'charlie' }] },
    ]);
    const usage = rows.map((row) => row['usage'] as Record<string, number>);
    const sum = (field: string) => usage.reduce((total, u) => total + (u[field] ?? 0), 0);
    expect(summary).toEqual({
      total: 3,
      done: 3,
      failed: 0,
      skipped: 0,
      durationMs: expect.any(Number),
      tokens: {
        prompt: sum('prompt_tokens'),
        completion: sum('completion_tokens'),
        total: sum('total_tokens'),
      },
      errors: {},
      keys: expect.any(Array),
      output: s.output,
      checkpoint: `${s.output}.keybatch`,
      // gpt-4o-mini: $0.15 in, $0.6 out per 1M tokens.
      cost: {
        usd: expect.closeTo((sum('prompt_tokens') * 0.15 + sum('completion_tokens') * 0.6) / 1e6, 12),
        knownUsd: expect.any(Number),
        unknownModels: [],
      },
    });
    expect(summary.tokens.total).toBeGreaterThan(0);
    expect(summary.keys.map((k) => k.key)).toEqual(['sk-…0001', 'sk-…0002']);
  });

  it('fills in the default system prompt for records without one; messages rows show the last user and first system message', async () => {
    const s = await setup();
    const conversation = [
      { role: 'user', content: 'first' },
      { role: 'assistant', content: 'a reply' },
      { role: 'user', content: 'second' },
    ];
    const withSystem = [
      { role: 'system', content: 'system in messages' },
      { role: 'user', content: [{ type: 'text', text: 'in parts' }] },
    ];
    await runPrompts(
      s.config,
      [
        { prompt: 'p1' },
        { prompt: 'p2', system: 'own' },
        { messages: conversation },
        { messages: withSystem },
      ],
      s.options({ system: 'default system' }),
    );
    const rows = await readRows(s.output);
    expect(rows.map((r) => [r['id'], r['system_prompt'], r['prompt'], r['response']])).toEqual([
      [0, 'default system', 'p1', 'echo: p1'],
      [1, 'own', 'p2', 'echo: p2'],
      [2, 'default system', 'second', 'echo: second'],
      [3, 'system in messages', 'in parts', 'echo: in parts'],
    ]);
    const sent = bodies(s.sim).map((b) => b['messages']);
    expect(sent).toContainEqual([{ role: 'system', content: 'default system' }, ...conversation]);
    expect(sent).toContainEqual(withSystem);
    expect(sent).toContainEqual([
      { role: 'system', content: 'own' },
      { role: 'user', content: 'p2' },
    ]);
  });

  it('reads OpenAI Batch API lines from a .jsonl file for each url, with custom_id as id and the endpoint from url', async () => {
    const s = await setup();
    const input = join(s.dir, 'batch.jsonl');
    const lines = [
      {
        custom_id: 'req-1',
        method: 'POST',
        url: '/v1/chat/completions',
        body: {
          model: 'gpt-4o',
          messages: [
            { role: 'system', content: 'S' },
            { role: 'user', content: 'c1' },
          ],
          temperature: 0.2,
        },
      },
      {
        custom_id: 'req-2',
        method: 'POST',
        url: '/v1/responses',
        body: { model: MODEL, input: 'r1', instructions: 'I' },
      },
      {
        custom_id: 'req-3',
        method: 'POST',
        url: '/v1/completions',
        body: { model: 'gpt-3.5-turbo-instruct', prompt: 'x1' },
      },
      {
        custom_id: 'req-4',
        method: 'POST',
        url: '/v1/embeddings',
        body: { model: 'text-embedding-3-small', input: ['e1', 'e2'], dimensions: 4 },
      },
      {
        custom_id: 5,
        method: 'POST',
        url: '/v1/embeddings',
        body: { model: 'text-embedding-3-small', input: 'e3' },
      },
    ];
    await writeFile(input, lines.map((line) => JSON.stringify(line)).join('\n') + '\n');
    // No `model` option: every line names its own.
    const { model: _, ...options } = s.options();
    const summary = await runPrompts(s.config, input, options);
    expect(summary).toMatchObject({ total: 5, done: 5, failed: 0 });
    const rows = await readRows(s.output);
    expect(rows.map((r) => r['id'])).toEqual(['req-1', 'req-2', 'req-3', 'req-4', 5]);
    expect(rows[0]).toMatchObject({
      system_prompt: 'S',
      prompt: 'c1',
      response: 'echo: c1',
      model: 'gpt-4o',
      finish_reason: 'stop',
    });
    expect(rows[1]).toMatchObject({
      system_prompt: 'I',
      prompt: 'r1',
      response: 'echo: r1',
      finish_reason: 'stop',
    });
    expect(rows[2]).toMatchObject({
      system_prompt: null,
      prompt: 'x1',
      response: 'echo: x1',
      finish_reason: 'stop',
    });
    expect(rows[3]).toMatchObject({ system_prompt: null, prompt: ['e1', 'e2'], finish_reason: null });
    const vectors = rows[3]?.['response'] as number[][];
    expect(vectors).toHaveLength(2);
    for (const vector of vectors) expect(vector).toHaveLength(4);
    expect((rows[4]!['response'] as number[]).every((v) => typeof v === 'number')).toBe(true);
    for (const row of rows) expect(Object.keys(row)).toEqual(SUCCESS_KEYS);
    expect(bodies(s.sim)).toEqual([lines[0]?.body]);
    expect(bodies(s.sim, '/v1/responses')).toEqual([lines[1]?.body]);
    expect(bodies(s.sim, '/v1/completions')).toEqual([lines[2]?.body]);
  });
});

describe('runPrompts endpoints', () => {
  it('sends prompt records to responses, completions and embeddings and writes their contract rows', async () => {
    const s = await setup();
    const run = (endpoint: 'responses' | 'completions' | 'embeddings', model: string, extra = {}) =>
      runPrompts(s.config, [{ id: 'q', prompt: `ask ${endpoint}` }], {
        ...s.options({ model, endpoint, ...extra }),
        output: join(s.dir, `${endpoint}.jsonl`),
      });

    await run('responses', MODEL, { system: 'Answer shortly.' });
    const [responses] = await readRows(join(s.dir, 'responses.jsonl'));
    expect(responses).toEqual({
      id: 'q',
      system_prompt: 'Answer shortly.',
      prompt: 'ask responses',
      response: 'echo: ask responses',
      model: MODEL,
      usage: expect.objectContaining({ input_tokens: expect.any(Number), output_tokens: expect.any(Number) }),
      finish_reason: 'stop',
    });
    expect(bodies(s.sim, '/v1/responses')).toEqual([
      { model: MODEL, input: 'ask responses', instructions: 'Answer shortly.' },
    ]);

    await run('completions', 'gpt-3.5-turbo-instruct');
    const [completion] = await readRows(join(s.dir, 'completions.jsonl'));
    expect(completion).toEqual({
      id: 'q',
      system_prompt: null,
      prompt: 'ask completions',
      response: 'echo: ask completions',
      model: 'gpt-3.5-turbo-instruct',
      usage: expect.objectContaining({ total_tokens: expect.any(Number) }),
      finish_reason: 'stop',
    });
    expect(bodies(s.sim, '/v1/completions')).toEqual([
      { model: 'gpt-3.5-turbo-instruct', prompt: 'ask completions' },
    ]);

    const summary = await run('embeddings', 'text-embedding-3-small');
    const [embedding] = await readRows(join(s.dir, 'embeddings.jsonl'));
    expect(embedding).toEqual({
      id: 'q',
      system_prompt: null,
      prompt: 'ask embeddings',
      response: expect.any(Array),
      model: 'text-embedding-3-small',
      usage: { prompt_tokens: expect.any(Number), total_tokens: expect.any(Number) },
      finish_reason: null,
    });
    expect(embedding?.['response']).toHaveLength(8);
    expect(bodies(s.sim, '/v1/embeddings')).toEqual([
      expect.objectContaining({ model: 'text-embedding-3-small', input: 'ask embeddings' }),
    ]);
    expect(summary.tokens).toEqual({
      prompt: expect.any(Number),
      completion: 0,
      total: (embedding!['usage'] as { total_tokens: number }).total_tokens,
    });
  });
});

describe('runPrompts request parameters', () => {
  it('passes request parameters through unchanged, and a Batch body’s own fields win', async () => {
    const s = await setup();
    const params = {
      temperature: 0.3,
      max_tokens: 50,
      top_p: 0.9,
      frequency_penalty: 0.5,
      presence_penalty: -0.5,
      response_format: { type: 'json_object' },
      seed: 7,
    };
    const batchBody = {
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'two' }],
      temperature: 1.5,
      max_tokens: 5,
    };
    await runPrompts(
      s.config,
      [
        { id: 'a', prompt: 'one' },
        { custom_id: 'b', url: '/v1/chat/completions', body: batchBody },
      ],
      s.options({ params }),
    );
    expect(bySentText(bodies(s.sim), 'messages')).toEqual([
      { model: MODEL, messages: [{ role: 'user', content: 'one' }], ...params },
      { ...params, ...batchBody },
    ]);
    const rows = await readRows(s.output);
    expect(rows.map((r) => [r['id'], r['model'], r['response']])).toEqual([
      // json_object: the simulator answers a JSON object.
      ['a', MODEL, '{"text":"echo: one"}'],
      ['b', 'gpt-4o', '{"text":"echo: two"}'],
    ]);
  });

  it('keeps chat tool calls in the row, next to a null response', async () => {
    const s = await setup();
    const tools = [
      {
        type: 'function',
        function: {
          name: 'lookup',
          parameters: { type: 'object', properties: { text: { type: 'string' } } },
        },
      },
    ];
    const toolChoice = { type: 'function', function: { name: 'lookup' } };
    await runPrompts(
      s.config,
      [{ prompt: 'find me' }],
      s.options({ params: { tools, tool_choice: toolChoice } }),
    );
    const [row] = await readRows(s.output);
    expect(row).toEqual({
      id: 0,
      system_prompt: null,
      prompt: 'find me',
      response: null,
      tool_calls: [
        {
          id: expect.any(String),
          type: 'function',
          function: { name: 'lookup', arguments: '{"text":"find me"}' },
        },
      ],
      model: MODEL,
      usage: expect.any(Object),
      finish_reason: 'tool_calls',
    });
    expect(Object.keys(row ?? {})).toEqual([
      'id',
      'system_prompt',
      'prompt',
      'response',
      'tool_calls',
      'model',
      'usage',
      'finish_reason',
    ]);
    expect(bodies(s.sim)).toEqual([
      { model: MODEL, messages: [{ role: 'user', content: 'find me' }], tools, tool_choice: toolChoice },
    ]);
  });

  it('keeps a responses answer’s non-text output (function calls) in the row as `output`', async () => {
    const s = await setup();
    const tools = [{ type: 'function', name: 'lookup', parameters: { type: 'object', properties: {} } }];
    await runPrompts(
      s.config,
      [{ prompt: 'call it' }],
      s.options({ endpoint: 'responses', params: { tools } }),
    );
    const [row] = await readRows(s.output);
    expect(row).toMatchObject({
      id: 0,
      prompt: 'call it',
      response: null,
      output: [{ type: 'function_call', name: 'lookup', arguments: '{"text":"call it"}' }],
      finish_reason: 'tool_calls',
    });
    expect(bodies(s.sim, '/v1/responses')).toEqual([{ model: MODEL, input: 'call it', tools }]);
  });
});
