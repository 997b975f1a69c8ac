import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { type PromptOptions, runPrompts } from '../../src/prompts/index.js';
import { resolvePromptOptions } from '../../src/prompts/options.js';
import { type RecordDefaults, toJob } from '../../src/requests/records.js';
import { OFFLINE_CONFIG } from '../helpers.js';

const defaults: RecordDefaults = { endpoint: 'chat', system: undefined, hasModel: true };
const refuse = (options: Record<string, unknown>) =>
  expect(() => resolvePromptOptions({ output: 'out.jsonl', ...options } as PromptOptions));

describe('runPrompts options', () => {
  it('fills in the defaults and freezes the result', () => {
    const resolved = resolvePromptOptions({ output: 'out.jsonl', model: 'm', params: { temperature: 0 } });
    expect(resolved).toMatchObject({
      output: 'out.jsonl',
      model: 'm',
      endpoint: 'chat',
      workers: 4,
      concurrency: 8,
      resume: true,
      handleSignals: true,
      progressIntervalMs: 1000,
      params: { temperature: 0 },
    });
    expect(Object.isFrozen(resolved)).toBe(true);
    expect(Object.isFrozen(resolved.params)).toBe(true);
  });

  it('refuses bad values naming the option and the value', () => {
    expect(() => resolvePromptOptions({} as PromptOptions)).toThrow(
      'Expected `output` to be a file path (the .jsonl to write), got `undefined` (undefined)',
    );
    refuse({ endpoint: 'chat2' }).toThrow(
      "Expected `endpoint` to be one of 'chat', 'responses', 'completions', 'embeddings', got `\"chat2\"` (string)",
    );
    refuse({ workers: 0 }).toThrow('Expected `workers` to be a whole number >= 1, got `0` (number)');
    refuse({ concurrency: 1.5 }).toThrow(
      'Expected `concurrency` to be a whole number >= 1, got `1.5` (number)',
    );
    refuse({ model: '' }).toThrow('Expected `model` to be a non-empty string, got `""` (string)');
    refuse({ params: [1] }).toThrow(
      'Expected `params` to be an object of request parameters, got `[1]` (array)',
    );
    refuse({ params: { model: 'x' } }).toThrow(
      '`params.model` is not allowed: pass it as the `model` option',
    );
    refuse({ params: { stream: true } }).toThrow('`params.stream` is not supported');
    refuse({ temperature: 0.2 }).toThrow('Unknown option `temperature` (request parameters go in `params`)');
    refuse({ endpoint: 'embeddings', system: 'S' }).toThrow(
      "`system` is not supported with endpoint 'embeddings'",
    );
    refuse({ resume: 'yes' }).toThrow(InputError);
  });

  it('refuses bad options before opening the pool or reading the input', async () => {
    await expect(runPrompts(OFFLINE_CONFIG, 'no-such-file.jsonl', { output: '' })).rejects.toThrow(
      'Expected `output` to be a file path',
    );
    await expect(
      runPrompts(OFFLINE_CONFIG, 'no-such-file.jsonl', { output: 'out.jsonl', model: 'm' }),
    ).rejects.toThrow('no-such-file.jsonl: no such file');
  });
});

describe('prompt records', () => {
  const problem = (record: unknown, options = defaults) => expect(() => toJob(record, 0, options));

  it('takes the id, or custom_id, with its type, else the position', () => {
    expect(toJob({ id: 7, prompt: 'p' }, 3, defaults).id).toBe(7);
    expect(toJob({ id: '7', prompt: 'p' }, 3, defaults).id).toBe('7');
    expect(toJob({ prompt: 'p' }, 3, defaults).id).toBe(3);
    expect(toJob({ custom_id: 'c', url: '/v1/embeddings', body: { input: 'x' } }, 3, defaults)).toMatchObject(
      { id: 'c', endpoint: 'embeddings', prompt: 'x', system: null },
    );
  });

  it('names the field of a bad record', () => {
    problem('text').toThrow('a record must be a JSON object, got `"text"` (string)');
    problem({ id: null, prompt: 'p' }).toThrow('"id" must be a string or a number, got `null` (null)');
    problem({ prompt: 'p', messages: [] }).toThrow('a record has both "prompt" and "messages"; give one');
    problem({ messages: [{ content: 'no role' }] }).toThrow(
      '"messages[0]" must be a message object with a string "role"',
    );
    problem({ system: 'S', messages: [{ role: 'system', content: 'T' }] }).toThrow(
      'a record has both "system" and a system message in "messages"; give one',
    );
    problem({ messages: [{ role: 'user', content: 'x' }] }, { ...defaults, endpoint: 'completions' }).toThrow(
      `a "messages" record needs endpoint 'chat' or 'responses', not 'completions'`,
    );
    problem({ prompt: 'p' }, { ...defaults, hasModel: false }).toThrow('no model: pass the `model` option');
    problem({ url: '/v1/chat/completions', method: 'GET', body: {} }).toThrow(
      '"method" must be "POST", got `"GET"`',
    );
    problem({ url: '/v1/completions', body: { prompt: 'x' } }, { ...defaults, hasModel: false }).toThrow(
      'no model: pass the `model` option or give the Batch API "body" a "model"',
    );
    problem({ url: '/v1/completions', body: { prompt: 'x', stream: true } }).toThrow(
      '"body.stream" is not supported',
    );
    problem({ url: '/v1/completions', body: 'x' }).toThrow('a Batch API line needs "body" (object)');
  });

  it('sends a Batch API body as written, without the default system prompt', () => {
    const body = { messages: [{ role: 'user', content: 'hi' }], temperature: 1 };
    const job = toJob({ url: '/v1/chat/completions', body }, 0, { ...defaults, system: 'default' });
    expect(job).toEqual({ index: 0, id: 0, endpoint: 'chat', system: null, prompt: 'hi', body });
  });
});
