/**
 * Deterministic successful bodies per endpoint: chat answers `echo: <last user text>` (or calls
 * the first tool with `{"text": <last user text>}`), completions echo the prompt, embeddings are
 * unit vectors derived from a hash of the text.
 */
import { createHash } from 'node:crypto';
import { createPrng } from './faults.js';
import { estimateTokens } from './request-text.js';
import { valueForSchema } from './schema-value.js';
import type { ResolvedStructured } from './structured.js';

/** What every body builder needs besides the request body. */
export interface ServeContext {
  /** A fresh id suffix, unique within this simulator. */
  id: string;
  model: string;
  /** Unix seconds. */
  created: number;
  fingerprint: string;
  promptTokens: number;
  /** The structured-outputs scenario: how answers to schema requests go wrong. */
  structured?: ResolvedStructured;
}

export interface Served {
  body: unknown;
  /** `usage.total_tokens` of the answer. */
  totalTokens: number;
}

export const SYSTEM_FINGERPRINT = 'fp_keybatch_sim';

/** The assistant's deterministic reply: text, or a call of one tool. */
export type Reply = { kind: 'text'; text: string } | { kind: 'tool'; name: string; arguments: string };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A tool's name, in the chat (`{ function: { name } }`) or responses (`{ name }`) shape. */
function toolName(tool: unknown): string | null {
  if (!isRecord(tool)) return null;
  const fn = tool['function'];
  if (isRecord(fn) && typeof fn['name'] === 'string') return fn['name'];
  return typeof tool['name'] === 'string' ? tool['name'] : null;
}

/** A tool's parameters schema, in the chat or responses shape. */
function toolParameters(tool: unknown): unknown {
  if (!isRecord(tool)) return undefined;
  const fn = tool['function'];
  return isRecord(fn) ? fn['parameters'] : tool['parameters'];
}

/** Whether the conversation ends with a tool's result (chat `tool` message, responses `function_call_output`). */
function endsWithToolResult(body: Record<string, unknown>): boolean {
  const messages = Array.isArray(body['messages']) ? body['messages'] : body['input'];
  if (!Array.isArray(messages)) return false;
  const last: unknown = messages.at(-1);
  if (!isRecord(last)) return false;
  return last['role'] === 'tool' || last['role'] === 'function' || last['type'] === 'function_call_output';
}

/** The JSON schema (or `{}` for json_object) of a structured-output request, else `undefined`. */
export function outputSchema(body: Record<string, unknown>): unknown {
  const text = body['text'];
  const format = isRecord(body['response_format'])
    ? body['response_format']
    : isRecord(text) && isRecord(text['format'])
      ? text['format']
      : undefined;
  if (!format) return undefined;
  if (format['type'] === 'json_object') return { type: 'object' };
  if (format['type'] !== 'json_schema') return undefined;
  const inner = isRecord(format['json_schema']) ? format['json_schema']['schema'] : format['schema'];
  return inner ?? { type: 'object' };
}

/**
 * The deterministic reply. With function tools and `tool_choice` not 'none': a call when
 * `tool_choice` forces one ('required': the first tool; a named function: that one), or, with
 * 'auto' (the default), unless the conversation ends with a tool's result; arguments are a value
 * of the tool's parameters schema. Otherwise text: `echo: <fingerprint>`, or a JSON value of the
 * `response_format` / `text.format` schema (`{"text": …}` for json_object).
 */
export function replyFor(body: Record<string, unknown>, fingerprint: string): Reply {
  const tools = Array.isArray(body['tools']) ? body['tools'].filter((tool) => toolName(tool) !== null) : [];
  const choice = body['tool_choice'];
  if (tools.length > 0 && choice !== 'none') {
    const named = toolName(choice);
    const forced = choice === 'required' || named !== null;
    if (forced || !endsWithToolResult(body)) {
      const tool = (named !== null ? tools.find((t) => toolName(t) === named) : undefined) ?? tools[0];
      const name = named ?? toolName(tool) ?? 'tool';
      const args = valueForSchema(toolParameters(tool), fingerprint);
      return { kind: 'tool', name, arguments: JSON.stringify(args) };
    }
  }
  const schema = outputSchema(body);
  if (schema !== undefined) {
    return { kind: 'text', text: JSON.stringify(valueForSchema(schema, `echo: ${fingerprint}`)) };
  }
  return { kind: 'text', text: `echo: ${fingerprint}` };
}

export function replyTokens(reply: Reply): number {
  return estimateTokens(reply.kind === 'text' ? reply.text : reply.arguments);
}

/** How many choices a chat or completions request asks for (`n`, 1 to 128, checked before). */
export function choiceCount(body: Record<string, unknown>): number {
  const n = body['n'];
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 ? Math.min(n, 128) : 1;
}

/** The reply text cut into tokens (a word and its following space each). */
export function replyTokensOf(text: string): string[] {
  return text.match(/\S+\s*|\s+/g) ?? [];
}

/** Deterministic log probabilities of the tokens of `text` for a chat choice (`logprobs: true`). */
export function chatLogprobs(text: string, topLogprobs: number) {
  return {
    content: replyTokensOf(text).map((token, i) => {
      const logprob = -((i % 7) + 1) / 100;
      return {
        token,
        logprob,
        bytes: [...Buffer.from(token, 'utf8')],
        top_logprobs: Array.from({ length: topLogprobs }, (_, k) => ({
          token: k === 0 ? token : `${token.trim()}_${k}`,
          logprob: k === 0 ? logprob : logprob - k,
          bytes: [...Buffer.from(k === 0 ? token : `${token.trim()}_${k}`, 'utf8')],
        })),
      };
    }),
    refusal: null,
  };
}

/** Completions' `logprobs` (an integer: how many alternatives per token). */
export function completionLogprobs(text: string, top: number) {
  const tokens = replyTokensOf(text);
  let offset = 0;
  const text_offset = tokens.map((token) => {
    const at = offset;
    offset += token.length;
    return at;
  });
  const token_logprobs = tokens.map((_, i) => -((i % 7) + 1) / 100);
  return {
    tokens,
    token_logprobs,
    top_logprobs: tokens.map((token, i) =>
      Object.fromEntries(
        Array.from({ length: Math.max(1, top) }, (_, k) => [
          k === 0 ? token : `${token.trim()}_${k}`,
          (token_logprobs[i] ?? 0) - k,
        ]),
      ),
    ),
    text_offset,
  };
}

export function completionUsage(promptTokens: number, completionTokens: number) {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

export function chatMessage(reply: Reply, callId: string) {
  if (reply.kind === 'text') {
    return { role: 'assistant', content: reply.text, refusal: null, annotations: [] };
  }
  return {
    role: 'assistant',
    content: null,
    refusal: null,
    annotations: [],
    tool_calls: [
      { id: callId, type: 'function', function: { name: reply.name, arguments: reply.arguments } },
    ],
  };
}

export function finishReason(reply: Reply): 'stop' | 'tool_calls' {
  return reply.kind === 'text' ? 'stop' : 'tool_calls';
}

export function chatCompletion(body: Record<string, unknown>, ctx: ServeContext): Served {
  const reply = replyFor(body, ctx.fingerprint);
  const n = choiceCount(body);
  const completionTokens = replyTokens(reply) * n;
  const choices = Array.from({ length: n }, (_, index) => ({
    index,
    message: chatMessage(reply, `call_${ctx.id}_${index}`),
    logprobs:
      body['logprobs'] === true && reply.kind === 'text'
        ? chatLogprobs(reply.text, typeof body['top_logprobs'] === 'number' ? body['top_logprobs'] : 0)
        : null,
    finish_reason: finishReason(reply),
  }));
  return {
    body: {
      id: `chatcmpl-${ctx.id}`,
      object: 'chat.completion',
      created: ctx.created,
      model: ctx.model,
      choices,
      usage: completionUsage(ctx.promptTokens, completionTokens),
      service_tier: 'default',
      system_fingerprint: SYSTEM_FINGERPRINT,
    },
    totalTokens: ctx.promptTokens + completionTokens,
  };
}

/** The prompts of a completions request, each answered by one choice (at least one). */
export function completionPrompts(body: Record<string, unknown>): string[] {
  const prompt = body['prompt'];
  if (Array.isArray(prompt) && prompt.length > 0 && prompt.every((item) => typeof item === 'string')) {
    return prompt as string[];
  }
  return [typeof prompt === 'string' ? prompt : ''];
}

export function textCompletion(body: Record<string, unknown>, ctx: ServeContext): Served {
  const texts = completionPrompts(body).map((prompt) => `echo: ${prompt}`);
  const logprobs = body['logprobs'];
  const n = choiceCount(body);
  const choices = texts.flatMap((text, p) =>
    Array.from({ length: n }, (_, i) => ({
      text,
      index: p * n + i,
      logprobs: typeof logprobs === 'number' ? completionLogprobs(text, logprobs) : null,
      finish_reason: 'stop',
    })),
  );
  const completionTokens = choices.reduce((sum, choice) => sum + estimateTokens(choice.text), 0);
  return {
    body: {
      id: `cmpl-${ctx.id}`,
      object: 'text_completion',
      created: ctx.created,
      model: ctx.model,
      choices,
      usage: completionUsage(ctx.promptTokens, completionTokens),
      system_fingerprint: SYSTEM_FINGERPRINT,
    },
    totalTokens: ctx.promptTokens + completionTokens,
  };
}

/** A deterministic unit vector of `dimensions` float32 values derived from a hash of `text`. */
export function embeddingVector(text: string, dimensions: number): number[] {
  const seed = createHash('sha256').update(text).digest().readUInt32LE(0);
  const random = createPrng(seed);
  const values = Array.from({ length: dimensions }, () => random() * 2 - 1);
  const norm = Math.sqrt(values.reduce((sum, v) => sum + v * v, 0)) || 1;
  return values.map((v) => Math.fround(v / norm));
}

function embeddingInputs(input: unknown): string[] {
  if (typeof input === 'string') return [input];
  if (!Array.isArray(input)) return [];
  if (input.every((item) => typeof item === 'number')) return [JSON.stringify(input)];
  return input.map((item) => (typeof item === 'string' ? item : JSON.stringify(item)));
}

export function embeddings(body: Record<string, unknown>, ctx: ServeContext): Served {
  const dims = body['dimensions'];
  const dimensions = typeof dims === 'number' && Number.isInteger(dims) && dims > 0 ? dims : 8;
  const base64 = body['encoding_format'] === 'base64';
  const data = embeddingInputs(body['input']).map((text, index) => {
    const vector = embeddingVector(text, dimensions);
    const embedding = base64 ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector;
    return { object: 'embedding', index, embedding };
  });
  return {
    body: {
      object: 'list',
      data,
      model: ctx.model,
      usage: { prompt_tokens: ctx.promptTokens, total_tokens: ctx.promptTokens },
    },
    totalTokens: ctx.promptTokens,
  };
}

/** The output item of a Responses API answer. */
export function responseOutputItem(reply: Reply, id: string) {
  if (reply.kind === 'text') {
    return {
      id: `msg_${id}`,
      type: 'message',
      status: 'completed',
      role: 'assistant',
      content: [{ type: 'output_text', text: reply.text, annotations: [], logprobs: [] }],
    };
  }
  return {
    id: `fc_${id}`,
    type: 'function_call',
    status: 'completed',
    call_id: `call_${id}`,
    name: reply.name,
    arguments: reply.arguments,
  };
}

/** A Responses API `response` object; `output` empty and `usage` null until completed. */
export function responseObject(
  body: Record<string, unknown>,
  ctx: ServeContext,
  reply: Reply,
  completed: boolean,
): Record<string, unknown> {
  const outputTokens = replyTokens(reply);
  const pick = (key: string, fallback: unknown) => (body[key] === undefined ? fallback : body[key]);
  return {
    id: `resp_${ctx.id}`,
    object: 'response',
    created_at: ctx.created,
    status: completed ? 'completed' : 'in_progress',
    completed_at: completed ? ctx.created : null,
    error: null,
    incomplete_details: null,
    instructions: pick('instructions', null),
    max_output_tokens: pick('max_output_tokens', null),
    model: ctx.model,
    output: completed ? [responseOutputItem(reply, ctx.id)] : [],
    parallel_tool_calls: pick('parallel_tool_calls', true),
    previous_response_id: pick('previous_response_id', null),
    reasoning: { effort: null, summary: null },
    service_tier: 'default',
    store: pick('store', true),
    temperature: pick('temperature', 1),
    text: pick('text', { format: { type: 'text' } }),
    tool_choice: pick('tool_choice', 'auto'),
    tools: pick('tools', []),
    top_p: pick('top_p', 1),
    truncation: pick('truncation', 'disabled'),
    usage: completed
      ? {
          input_tokens: ctx.promptTokens,
          input_tokens_details: { cached_tokens: 0 },
          output_tokens: outputTokens,
          output_tokens_details: { reasoning_tokens: 0 },
          total_tokens: ctx.promptTokens + outputTokens,
        }
      : null,
    user: pick('user', null),
    metadata: pick('metadata', {}),
  };
}

export function response(body: Record<string, unknown>, ctx: ServeContext): Served {
  const reply = replyFor(body, ctx.fingerprint);
  return { body: responseObject(body, ctx, reply, true), totalTokens: ctx.promptTokens + replyTokens(reply) };
}
