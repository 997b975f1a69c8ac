/**
 * Streaming answers (`stream: true`) as server-sent events, chunked the way the real API chunks
 * them: chat and completions as `data: {chunk}` lines ending with `data: [DONE]`, the Responses
 * API as typed `event:` / `data:` pairs ending with `response.completed`.
 */

import { estimateTokens } from './request-text.js';
import {
  choiceCount,
  completionPrompts,
  completionUsage,
  finishReason,
  type Reply,
  replyFor,
  replyTokens,
  responseObject,
  responseOutputItem,
  type ServeContext,
  SYSTEM_FINGERPRINT,
} from './responses.js';

export interface StreamServed {
  /** The whole SSE body. */
  sse: string;
  totalTokens: number;
}

const MAX_PIECES = 8;

/** Splits text into at most 8 pieces at word boundaries; concatenated they give the text back. */
export function splitPieces(text: string): string[] {
  const words = text.match(/\s*\S+/g) ?? [];
  if (words.length === 0) return text ? [text] : [];
  const trailing = text.slice(words.join('').length);
  if (trailing) words[words.length - 1] += trailing;
  const size = Math.ceil(words.length / MAX_PIECES);
  const pieces: string[] = [];
  for (let i = 0; i < words.length; i += size) pieces.push(words.slice(i, i + size).join(''));
  return pieces;
}

function data(payload: unknown): string {
  return `data: ${JSON.stringify(payload)}\n\n`;
}

function includeUsage(body: Record<string, unknown>): boolean {
  const options = body['stream_options'];
  return (
    typeof options === 'object' &&
    options !== null &&
    (options as Record<string, unknown>)['include_usage'] === true
  );
}

function chatDeltas(reply: Reply, callId: string): Record<string, unknown>[] {
  if (reply.kind === 'text') {
    return [
      { role: 'assistant', content: '', refusal: null },
      ...splitPieces(reply.text).map((content) => ({ content })),
    ];
  }
  return [
    {
      role: 'assistant',
      content: null,
      refusal: null,
      tool_calls: [{ index: 0, id: callId, type: 'function', function: { name: reply.name, arguments: '' } }],
    },
    ...splitPieces(reply.arguments).map((args) => ({
      tool_calls: [{ index: 0, function: { arguments: args } }],
    })),
  ];
}

export function chatCompletionStream(body: Record<string, unknown>, ctx: ServeContext): StreamServed {
  const reply = replyFor(body, ctx.fingerprint);
  const n = choiceCount(body);
  const usage = includeUsage(body);
  const base = {
    id: `chatcmpl-${ctx.id}`,
    object: 'chat.completion.chunk',
    created: ctx.created,
    model: ctx.model,
    service_tier: 'default',
    system_fingerprint: SYSTEM_FINGERPRINT,
  };
  const chunk = (choices: unknown[], extra: Record<string, unknown> = usage ? { usage: null } : {}) =>
    data({ ...base, choices, ...extra });
  let sse = '';
  for (let index = 0; index < n; index++) {
    for (const delta of chatDeltas(reply, `call_${ctx.id}_${index}`)) {
      sse += chunk([{ index, delta, logprobs: null, finish_reason: null }]);
    }
    sse += chunk([{ index, delta: {}, logprobs: null, finish_reason: finishReason(reply) }]);
  }
  const completionTokens = replyTokens(reply) * n;
  if (usage) sse += chunk([], { usage: completionUsage(ctx.promptTokens, completionTokens) });
  return { sse: `${sse}data: [DONE]\n\n`, totalTokens: ctx.promptTokens + completionTokens };
}

export function textCompletionStream(body: Record<string, unknown>, ctx: ServeContext): StreamServed {
  const usage = includeUsage(body);
  const n = choiceCount(body);
  const base = { id: `cmpl-${ctx.id}`, object: 'text_completion', created: ctx.created, model: ctx.model };
  let sse = '';
  let completionTokens = 0;
  for (const [p, prompt] of completionPrompts(body).entries()) {
    const text = `echo: ${prompt}`;
    for (let i = 0; i < n; i++) {
      const index = p * n + i;
      completionTokens += estimateTokens(text);
      for (const piece of splitPieces(text)) {
        sse += data({ ...base, choices: [{ text: piece, index, logprobs: null, finish_reason: null }] });
      }
      sse += data({ ...base, choices: [{ text: '', index, logprobs: null, finish_reason: 'stop' }] });
    }
  }
  if (usage)
    sse += data({ ...base, choices: [], usage: completionUsage(ctx.promptTokens, completionTokens) });
  return { sse: `${sse}data: [DONE]\n\n`, totalTokens: ctx.promptTokens + completionTokens };
}

export function responseStream(body: Record<string, unknown>, ctx: ServeContext): StreamServed {
  const reply = replyFor(body, ctx.fingerprint);
  const item = responseOutputItem(reply, ctx.id);
  let sequence = 0;
  let sse = '';
  const event = (type: string, payload: Record<string, unknown>) => {
    sse += `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...payload })}\n\n`;
  };
  const at = { item_id: item.id, output_index: 0 };
  event('response.created', { response: responseObject(body, ctx, reply, false) });
  event('response.in_progress', { response: responseObject(body, ctx, reply, false) });
  if (reply.kind === 'text') {
    const part = { type: 'output_text', text: '', annotations: [], logprobs: [] };
    event('response.output_item.added', {
      output_index: 0,
      item: { ...item, status: 'in_progress', content: [] },
    });
    event('response.content_part.added', { ...at, content_index: 0, part });
    for (const delta of splitPieces(reply.text)) {
      event('response.output_text.delta', { ...at, content_index: 0, delta, logprobs: [] });
    }
    event('response.output_text.done', { ...at, content_index: 0, text: reply.text, logprobs: [] });
    event('response.content_part.done', { ...at, content_index: 0, part: { ...part, text: reply.text } });
  } else {
    event('response.output_item.added', {
      output_index: 0,
      item: { ...item, status: 'in_progress', arguments: '' },
    });
    for (const delta of splitPieces(reply.arguments)) {
      event('response.function_call_arguments.delta', { ...at, delta });
    }
    event('response.function_call_arguments.done', { ...at, name: reply.name, arguments: reply.arguments });
  }
  event('response.output_item.done', { output_index: 0, item });
  event('response.completed', { response: responseObject(body, ctx, reply, true) });
  return { sse, totalTokens: ctx.promptTokens + replyTokens(reply) };
}
