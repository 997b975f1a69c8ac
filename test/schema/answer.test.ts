/** The pure parts: finish reasons and refusals as codes, the re-ask turn, the schema in a request. */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InputError } from '../../src/errors.js';
import { checkAnswer, jsonSchema, prepareSchema, reaskBody, withSchema } from '../../src/schema/index.js';
import { sumUsage } from '../../src/schema/settle.js';
import { PERSON } from './helpers.js';

const schema = jsonSchema(PERSON, 'person.json');
const valid = { name: 'a', age: 3, tags: [], address: { city: 'c', zip: 'z' } };
const chat = (message: Record<string, unknown>, finish = 'stop') => ({
  object: 'chat.completion',
  choices: [{ index: 0, message: { role: 'assistant', refusal: null, ...message }, finish_reason: finish }],
});
const responses = (status: string, content: unknown[], reason?: string) => ({
  object: 'response',
  status,
  incomplete_details: reason ? { reason } : null,
  output: [{ type: 'message', role: 'assistant', content }],
});

describe('checkAnswer', () => {
  it('a chat answer: valid with parsed, invalid with every error, or failed with its code', () => {
    expect(checkAnswer('chat', chat({ content: JSON.stringify(valid) }), schema)).toEqual({
      kind: 'valid',
      parsed: valid,
    });
    const invalid = checkAnswer(
      'chat',
      chat({ content: JSON.stringify({ ...valid, age: 'x', extra: 1 }) }),
      schema,
    );
    expect(invalid).toMatchObject({ kind: 'invalid' });
    expect((invalid as { errors: string[] }).errors).toEqual([
      "/: must NOT have additional properties ('extra')",
      '/age: must be integer',
    ]);
    expect(checkAnswer('chat', chat({ content: 'Sure! {"name": 1}' }), schema)).toMatchObject({
      kind: 'invalid',
      errors: [expect.stringMatching(/^the answer is not valid JSON/)],
    });
    expect(checkAnswer('chat', chat({ content: '{"name": "a", "ag' }, 'length'), schema)).toMatchObject({
      kind: 'failed',
      code: 'TRUNCATED',
      message: expect.stringMatching(/raise --max-tokens/),
    });
    expect(checkAnswer('chat', chat({ content: null }, 'content_filter'), schema)).toMatchObject({
      code: 'FILTERED',
    });
    expect(checkAnswer('chat', chat({ content: null, refusal: 'No.' }), schema)).toMatchObject({
      code: 'REFUSED',
      message: 'the model refused: No.',
    });
    // A refusal sent as plain text where JSON was due; other prose is invalid (re-asked).
    expect(
      checkAnswer('chat', chat({ content: "I'm sorry, but I can't help with that." }), schema),
    ).toMatchObject({
      code: 'REFUSED',
    });
    expect(checkAnswer('chat', chat({ content: 'I think {"name": "a"}' }), schema)).toMatchObject({
      kind: 'invalid',
    });
  });

  it('a responses answer: incomplete for max_output_tokens is TRUNCATED, for content_filter FILTERED, a refusal part REFUSED', () => {
    const text = (t: string) => ({ type: 'output_text', text: t });
    expect(checkAnswer('responses', responses('completed', [text(JSON.stringify(valid))]), schema)).toEqual({
      kind: 'valid',
      parsed: valid,
    });
    expect(
      checkAnswer('responses', responses('incomplete', [text('{"na')], 'max_output_tokens'), schema),
    ).toMatchObject({ code: 'TRUNCATED' });
    expect(checkAnswer('responses', responses('incomplete', [], 'content_filter'), schema)).toMatchObject({
      code: 'FILTERED',
    });
    expect(
      checkAnswer('responses', responses('completed', [{ type: 'refusal', refusal: 'No.' }]), schema),
    ).toMatchObject({ code: 'REFUSED' });
  });
});

describe('the schema in a request and the re-ask turn', () => {
  it('adds the run schema with strict: true, but a record’s own format wins', () => {
    const body = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };
    expect(withSchema('chat', body, schema)).toEqual({
      ...body,
      response_format: { type: 'json_schema', json_schema: { name: 'person', schema: PERSON, strict: true } },
    });
    const own = { ...body, response_format: { type: 'json_object' } };
    expect(withSchema('chat', own, schema)).toBe(own);
    expect(withSchema('responses', { model: 'm', input: 'hi', text: { verbosity: 'low' } }, schema)).toEqual({
      model: 'm',
      input: 'hi',
      text: {
        verbosity: 'low',
        format: { type: 'json_schema', name: 'person', schema: PERSON, strict: true },
      },
    });
  });

  it('a re-ask continues the conversation with the answer and the errors', () => {
    const errors = ['/age: must be integer'];
    expect(
      reaskBody('chat', { model: 'm', messages: [{ role: 'user', content: 'q' }] }, '{"age":"x"}', errors),
    ).toEqual({
      model: 'm',
      messages: [
        { role: 'user', content: 'q' },
        { role: 'assistant', content: '{"age":"x"}' },
        { role: 'user', content: expect.stringContaining('- /age: must be integer') },
      ],
    });
    expect(reaskBody('responses', { model: 'm', input: 'q', instructions: 's' }, 'a', errors)).toMatchObject({
      instructions: 's',
      input: [
        { role: 'user', content: 'q' },
        { role: 'assistant', content: 'a' },
        { role: 'user', content: expect.stringContaining('/age') },
      ],
    });
  });

  it('refuses what is not a valid JSON Schema, naming where it came from', async () => {
    expect(() => jsonSchema({ type: 'object', requird: ['a'] }, 'x.json')).toThrow(
      new InputError('x.json: not a valid JSON Schema: strict mode: unknown keyword: "requird"'),
    );
    expect(() => jsonSchema({ properties: { a: { $ref: '#/$defs/b' } } }, 'y.json')).toThrow(
      /y\.json: .*can't resolve reference/,
    );
    // OpenAI's wrappers are unwrapped; a zod schema gives its JSON Schema and validates with zod.
    expect(jsonSchema({ name: 'w', schema: PERSON }, 'w').json).toEqual(PERSON);
    const zod = await prepareSchema(z.object({ n: z.number().transform((v) => v * 2) }), 'z');
    expect(zod.json).toMatchObject({ type: 'object', properties: { n: { type: 'number' } } });
    expect(zod.validate({ n: 2 })).toEqual({ ok: true, value: { n: 4 } });
    expect(zod.validate({ n: 'x' })).toMatchObject({ ok: false, errors: [expect.stringMatching(/^\/n: /)] });
  });

  it('adds up the usage of every answer of a row', () => {
    const u = (p: number, c: number) => ({
      usage: { prompt_tokens: p, completion_tokens: c, total_tokens: p + c, d: { x: 1 } },
    });
    expect(sumUsage([u(1, 2), u(3, 4)])).toEqual({
      prompt_tokens: 4,
      completion_tokens: 6,
      total_tokens: 10,
      d: { x: 2 },
    });
  });
});
