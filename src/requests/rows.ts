/**
 * Output rows, exactly the contract's shapes:
 *
 *   success: { id, system_prompt, prompt, response, [responses, logprobs, tool_calls | output | refusal,] model, usage, finish_reason [, raw] }
 *   failure: { id, system_prompt, prompt, error: { status, code, message } }
 */
import { capErrorText } from '../keys/redact.js';
import type { Endpoint } from './endpoint.js';
import type { PromptJob } from './records.js';

export interface SuccessRow {
  id: string | number;
  system_prompt: string | null;
  prompt: unknown;
  /** The text (chat content, responses output_text, completion text); embeddings: the vector(s). */
  response: unknown;
  /** Every choice's text (chat, completions), when the answer has more than one (`n > 1`); `response` is the first. */
  responses?: unknown[];
  /** The first choice's log probabilities (responses: of its output text), when the request asked for them. */
  logprobs?: unknown;
  /** Chat: the tool calls of the answer, when it made any. */
  tool_calls?: unknown[];
  /** Chat: a refusal, when the model refused. */
  refusal?: string;
  /** Responses: the whole `output`, when it has items other than text messages (tool calls, reasoning, …). */
  output?: unknown[];
  model: string | null;
  usage: unknown;
  finish_reason: string | null;
  /** The whole answer body, with the `raw` option. */
  raw?: unknown;
  /** Structured outputs: the answer's object, valid against the schema. */
  parsed?: unknown;
  /** Structured outputs: re-asks it took (absent: none). */
  reasks?: number;
}

export interface ErrorRow {
  id: string | number;
  system_prompt: string | null;
  prompt: unknown;
  error: { status: number | null; code: string | null; message: string };
  /** Structured outputs (SCHEMA_INVALID, TRUNCATED, FILTERED, REFUSED): the last answer's text. */
  response?: unknown;
  finish_reason?: string | null;
  model?: string | null;
  /** Structured outputs: the tokens of every answer, re-asks included. */
  usage?: unknown;
  reasks?: number;
}

export type PromptRow = SuccessRow | ErrorRow;

/** Tokens of one answer, from its `usage` (chat/completions/embeddings or responses names). */
export interface TokenCounts {
  prompt: number;
  completion: number;
  total: number;
}

type Json = Record<string, unknown>;

const asRecord = (value: unknown): Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : {};
const asString = (value: unknown): string | null => (typeof value === 'string' ? value : null);
const asNumber = (value: unknown): number =>
  typeof value === 'number' && Number.isFinite(value) ? value : 0;

/** The failure row of a job; its message cut to 4 KiB (`… [truncated: N bytes]`). */
export function errorRow(job: PromptJob, error: ErrorRow['error']): ErrorRow {
  const message = capErrorText(error.message);
  return { id: job.id, system_prompt: job.system, prompt: job.prompt, error: { ...error, message } };
}

const choicesOf = (answer: Json): Json[] =>
  Array.isArray(answer['choices']) ? (answer['choices'] as unknown[]).map(asRecord) : [];

/** `responses` (every choice's text, when there are several) and the first choice's `logprobs`. */
function choiceExtras(choices: Json[], text: (choice: Json) => unknown): Partial<SuccessRow> {
  const logprobs = choices[0]?.['logprobs'];
  return {
    ...(choices.length > 1 ? { responses: choices.map(text) } : {}),
    ...(logprobs !== undefined && logprobs !== null ? { logprobs } : {}),
  };
}

function chatParts(answer: Json) {
  const choices = choicesOf(answer);
  const choice = choices[0] ?? {};
  const message = asRecord(choice['message']);
  const toolCalls = message['tool_calls'];
  const refusal = asString(message['refusal']);
  return {
    response: asString(message['content']),
    extra: {
      ...choiceExtras(choices, (c) => asString(asRecord(c['message'])['content'])),
      ...(Array.isArray(toolCalls) && toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
      ...(refusal ? { refusal } : {}),
    },
    finish: asString(choice['finish_reason']),
  };
}

/** The responses answer's text, its non-text output, and a chat-like finish reason. */
function responsesParts(answer: Json) {
  const output = Array.isArray(answer['output']) ? (answer['output'] as unknown[]) : [];
  const texts: string[] = [];
  const logprobs: unknown[] = [];
  let onlyText = true;
  let calls = false;
  for (const item of output) {
    const entry = asRecord(item);
    if (entry['type'] !== 'message') {
      onlyText = false;
      if (typeof entry['type'] === 'string' && entry['type'].endsWith('_call')) calls = true;
      continue;
    }
    for (const part of Array.isArray(entry['content']) ? entry['content'] : []) {
      const content = asRecord(part);
      if (content['type'] === 'output_text' && typeof content['text'] === 'string') {
        texts.push(content['text']);
        if (Array.isArray(content['logprobs'])) logprobs.push(...content['logprobs']);
      } else onlyText = false;
    }
  }
  const incomplete = asString(asRecord(answer['incomplete_details'])['reason']);
  const status = asString(answer['status']);
  const finish =
    incomplete === 'max_output_tokens'
      ? 'length'
      : (incomplete ?? (calls ? 'tool_calls' : status === 'completed' ? 'stop' : status));
  return {
    response: texts.length > 0 ? texts.join('') : null,
    extra: { ...(logprobs.length > 0 ? { logprobs } : {}), ...(onlyText ? {} : { output }) },
    finish,
  };
}

function embeddingsResponse(answer: Json, job: PromptJob): unknown {
  const data = Array.isArray(answer['data']) ? (answer['data'] as unknown[]) : [];
  const vectors = [...data]
    .sort((a, b) => asNumber(asRecord(a)['index']) - asNumber(asRecord(b)['index']))
    .map((item) => asRecord(item)['embedding'] ?? null);
  const input = job.body['input'];
  const several = Array.isArray(input) && input.some((item) => typeof item !== 'number');
  return several ? vectors : (vectors[0] ?? null);
}

/** The success row of an answer; `raw` keeps the whole answer body in it. */
export function successRow(
  job: PromptJob,
  endpoint: Endpoint,
  answer: unknown,
  model: unknown,
  raw = false,
): SuccessRow {
  const body = asRecord(answer);
  let parts: { response: unknown; extra: Partial<SuccessRow>; finish: string | null };
  switch (endpoint) {
    case 'chat':
      parts = chatParts(body);
      break;
    case 'responses':
      parts = responsesParts(body);
      break;
    case 'completions': {
      const choices = choicesOf(body);
      const choice = choices[0] ?? {};
      parts = {
        response: asString(choice['text']),
        extra: choiceExtras(choices, (c) => asString(c['text'])),
        finish: asString(choice['finish_reason']),
      };
      break;
    }
    case 'embeddings':
      parts = { response: embeddingsResponse(body, job), extra: {}, finish: null };
      break;
  }
  return {
    id: job.id,
    system_prompt: job.system,
    prompt: job.prompt,
    response: parts.response,
    ...parts.extra,
    model: asString(body['model']) ?? asString(model),
    usage: body['usage'] ?? null,
    finish_reason: parts.finish,
    ...(raw ? { raw: answer } : {}),
  };
}

/** Token counts of an answer's `usage` (zero where it says nothing). */
export function usageTokens(usage: unknown): TokenCounts {
  const u = asRecord(usage);
  const prompt = asNumber(u['prompt_tokens'] ?? u['input_tokens']);
  const completion = asNumber(u['completion_tokens'] ?? u['output_tokens']);
  const total = asNumber(u['total_tokens']) || prompt + completion;
  return { prompt, completion, total };
}
