/**
 * What the simulator reads from a request body: the fingerprint text (the last user message, or
 * the prompt / input), and token estimates (characters / 4, rounded up) for rate limits, the
 * context limit and `usage`.
 */

import { contentText, type FileResolver } from './content-parts.js';

export { contentText } from './content-parts.js';

export type ModelEndpoint = 'chat' | 'completions' | 'embeddings' | 'responses';

export interface RequestText {
  /** The last user message text, or the prompt / input text (array items joined by newlines). */
  fingerprint: string;
  /** Estimated prompt tokens: all text of the request, characters / 4 rounded up. */
  promptTokens: number;
  /** The output tokens the request may use (max_tokens …), 16 when unset, 0 for embeddings. */
  maxOutputTokens: number;
  /** The parameter a context-length error names. */
  param: string;
}

/** Characters / 4, rounded up: the simulator's token estimate. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

const DEFAULT_MAX_OUTPUT_TOKENS = 16;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function firstNumber(...values: unknown[]): number | undefined {
  for (const value of values) if (typeof value === 'number' && Number.isFinite(value)) return value;
  return undefined;
}

/** Texts and token counts of a `prompt` / `input` that is a string, strings, or token arrays. */
function promptParts(value: unknown): { texts: string[]; tokenItems: number } {
  if (typeof value === 'string') return { texts: [value], tokenItems: 0 };
  if (!Array.isArray(value)) return { texts: [], tokenItems: 0 };
  if (value.every((item) => typeof item === 'number')) return { texts: [], tokenItems: value.length };
  const texts: string[] = [];
  let tokenItems = 0;
  for (const item of value) {
    if (typeof item === 'string') texts.push(item);
    else if (Array.isArray(item)) tokenItems += item.length;
  }
  return { texts, tokenItems };
}

function messagesText(messages: unknown[], resolve?: FileResolver): { all: number; lastUser: string } {
  let all = 0;
  let lastUser = '';
  for (const message of messages) {
    if (!isRecord(message)) continue;
    const text = contentText(message['content'], resolve);
    all += text.length;
    if (message['role'] === 'user') lastUser = text;
  }
  return { all, lastUser };
}

/**
 * Reads the text of a (validated) request body of a model endpoint; `resolve` names uploaded
 * files referenced by id (see `content-parts.ts`).
 */
export function readRequestText(
  endpoint: ModelEndpoint,
  body: Record<string, unknown>,
  resolve?: FileResolver,
): RequestText {
  switch (endpoint) {
    case 'chat': {
      const messages = Array.isArray(body['messages']) ? body['messages'] : [];
      const { all, lastUser } = messagesText(messages, resolve);
      return {
        fingerprint: lastUser,
        promptTokens: Math.ceil(all / 4),
        maxOutputTokens:
          firstNumber(body['max_tokens'], body['max_completion_tokens']) ?? DEFAULT_MAX_OUTPUT_TOKENS,
        param: 'messages',
      };
    }
    case 'completions':
    case 'embeddings': {
      const key = endpoint === 'completions' ? 'prompt' : 'input';
      const { texts, tokenItems } = promptParts(body[key]);
      const chars = texts.reduce((sum, text) => sum + text.length, 0);
      return {
        fingerprint: texts.join('\n'),
        promptTokens: Math.ceil(chars / 4) + tokenItems,
        maxOutputTokens:
          endpoint === 'embeddings' ? 0 : (firstNumber(body['max_tokens']) ?? DEFAULT_MAX_OUTPUT_TOKENS),
        param: key,
      };
    }
    case 'responses': {
      const input = body['input'];
      const instructions = typeof body['instructions'] === 'string' ? body['instructions'] : '';
      let all = instructions.length;
      let fingerprint = '';
      if (typeof input === 'string') {
        all += input.length;
        fingerprint = input;
      } else if (Array.isArray(input)) {
        const text = messagesText(input, resolve);
        all += text.all;
        fingerprint = text.lastUser;
      }
      return {
        fingerprint,
        promptTokens: Math.ceil(all / 4),
        maxOutputTokens: firstNumber(body['max_output_tokens']) ?? DEFAULT_MAX_OUTPUT_TOKENS,
        param: 'input',
      };
    }
  }
}
