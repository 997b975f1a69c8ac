import { encodeChat } from 'gpt-tokenizer/model/gpt-4o';
import { describe, expect, it } from 'vitest';
import { CompletionMean } from '../../src/tokens/completion-mean.js';
import { encoder, encodingFor } from '../../src/tokens/encoders.js';
import { estimateRequestTokens, usageTokens } from '../../src/tokens/estimate.js';

describe('token estimates with the real tokenizer', () => {
  it('picks the encoding each model counts in', () => {
    expect(encodingFor('gpt-4o-mini')).toBe('o200k_base');
    expect(encodingFor('gpt-4.1')).toBe('o200k_base');
    expect(encodingFor('o3-mini')).toBe('o200k_base');
    expect(encodingFor('gpt-4-turbo')).toBe('cl100k_base');
    expect(encodingFor('gpt-3.5-turbo')).toBe('cl100k_base');
    expect(encodingFor('text-embedding-3-small')).toBe('cl100k_base');
    expect(encodingFor(undefined)).toBe('o200k_base');
  });

  it('a chat prompt counts what the model’s chat template encodes', () => {
    const messages = [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Summarise the plot of Hamlet in one sentence, please.' },
      { role: 'assistant', content: 'A prince avenges his father and everyone dies.' },
    ] as const;
    const estimate = estimateRequestTokens('chat', { model: 'gpt-4o', messages, max_tokens: 50 });
    expect(estimate.prompt).toBe(encodeChat(messages, 'gpt-4o').length);
    expect(estimate).toEqual({ prompt: estimate.prompt, completion: 50, total: estimate.prompt + 50 });
  });

  it('max_completion_tokens, max_tokens, max_output_tokens cap the completion; n multiplies it', () => {
    const messages = [{ role: 'user', content: 'hi' }];
    expect(estimateRequestTokens('chat', { messages, max_completion_tokens: 10, n: 3 }).completion).toBe(30);
    expect(estimateRequestTokens('responses', { input: 'hi', max_output_tokens: 7 }).completion).toBe(7);
    expect(estimateRequestTokens('completions', { prompt: 'hi', max_tokens: 5, best_of: 2 }).completion).toBe(
      10,
    );
    // The legacy endpoint's default cap is 16.
    expect(estimateRequestTokens('completions', { prompt: 'hi' }).completion).toBe(16);
    expect(estimateRequestTokens('embeddings', { input: 'hi', max_tokens: 99 }).completion).toBe(0);
  });

  it('without a cap the learned mean of completions is used', () => {
    const mean = new CompletionMean(100);
    const body = { messages: [{ role: 'user', content: 'hi' }] };
    expect(estimateRequestTokens('chat', body, mean).completion).toBe(100);
    mean.observe(40);
    mean.observe(60);
    expect(mean.value).toBe(50);
    expect(estimateRequestTokens('chat', body, mean).completion).toBe(50);
    expect(estimateRequestTokens('chat', body).completion).toBe(0);
  });

  it('responses input items, instructions and tools are counted', () => {
    const enc = encoder('o200k_base');
    const plain = estimateRequestTokens('responses', { model: 'gpt-4.1', input: 'Tell me a joke.' });
    expect(plain.prompt).toBe(enc.countTokens('Tell me a joke.'));
    const items = estimateRequestTokens('responses', {
      input: [{ role: 'user', content: [{ type: 'input_text', text: 'Tell me a joke.' }] }],
      instructions: 'Be brief.',
      tools: [{ type: 'function', name: 'lookup', parameters: { type: 'object' } }],
    });
    expect(items.prompt).toBeGreaterThan(plain.prompt + enc.countTokens('Be brief.'));
  });

  it('embeddings and completions take strings, lists and token arrays', () => {
    const enc = encoder('cl100k_base');
    const model = 'text-embedding-3-small';
    expect(estimateRequestTokens('embeddings', { model, input: 'one two three' }).prompt).toBe(
      enc.countTokens('one two three'),
    );
    expect(estimateRequestTokens('embeddings', { model, input: ['one', 'two'] }).prompt).toBe(2);
    expect(estimateRequestTokens('embeddings', { model, input: [1, 2, 3, 4] }).prompt).toBe(4);
    expect(estimateRequestTokens('completions', { prompt: [[1, 2], [3]], max_tokens: 0 }).prompt).toBe(3);
  });

  it('file parts count per page of their size, never their base64 as text', () => {
    const text = { type: 'text', text: 'Summarise this.' };
    const pdf = (kb: number) => `data:application/pdf;base64,${'QUJD'.repeat((kb * 1024) / 3)}`;
    const chat = (part: unknown) =>
      estimateRequestTokens('chat', { messages: [{ role: 'user', content: [text, part] }] }).prompt;
    const base = estimateRequestTokens('chat', { messages: [{ role: 'user', content: [text] }] }).prompt;
    // A 30 KB PDF is one page; a 1 MB one eleven; a file by id one (its size is unknown here).
    expect(chat({ type: 'file', file: { filename: 'a.pdf', file_data: pdf(30) } }) - base).toBe(1265);
    expect(chat({ type: 'file', file: { filename: 'b.pdf', file_data: pdf(1024) } }) - base).toBe(11 * 1265);
    expect(chat({ type: 'file', file: { file_id: 'file-abc' } }) - base).toBe(1265);
    const responses = (part: unknown) =>
      estimateRequestTokens('responses', {
        input: [{ role: 'user', content: [{ type: 'input_text', text: 'Summarise this.' }, part] }],
      }).prompt;
    const responsesBase = estimateRequestTokens('responses', {
      input: [{ role: 'user', content: [{ type: 'input_text', text: 'Summarise this.' }] }],
    }).prompt;
    expect(responses({ type: 'input_file', filename: 'c.pdf', file_data: pdf(1024) }) - responsesBase).toBe(
      11 * 1265,
    );
  });

  it('image parts count at a flat rate; a malformed body never throws', () => {
    const image = { type: 'image_url', image_url: { url: 'data:,', detail: 'low' } };
    const text = { type: 'text', text: 'What is this?' };
    const withImage = estimateRequestTokens('chat', { messages: [{ role: 'user', content: [text, image] }] });
    const without = estimateRequestTokens('chat', { messages: [{ role: 'user', content: [text] }] });
    expect(withImage.prompt - without.prompt).toBe(85);
    expect(() => estimateRequestTokens('chat', null)).not.toThrow();
    expect(() => estimateRequestTokens('chat', { messages: 'oops', max_tokens: -3, n: 'x' })).not.toThrow();
    expect(
      estimateRequestTokens('chat', { messages: [{ role: 'user', content: 'hi' }], max_tokens: -3 })
        .completion,
    ).toBe(0);
  });

  it('usage from every endpoint settles the estimate', () => {
    expect(usageTokens({ prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 })).toEqual({
      prompt: 10,
      completion: 5,
      total: 15,
    });
    expect(usageTokens({ input_tokens: 8, output_tokens: 2 })).toEqual({
      prompt: 8,
      completion: 2,
      total: 10,
    });
    expect(usageTokens({ prompt_tokens: 7, total_tokens: 7 })).toEqual({
      prompt: 7,
      completion: 0,
      total: 7,
    });
    expect(usageTokens(undefined)).toBeUndefined();
    expect(usageTokens({ what: 1 })).toBeUndefined();
  });
});
