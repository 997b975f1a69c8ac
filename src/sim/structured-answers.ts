/**
 * Chat and responses answers under the structured-outputs scenario (`structured.ts`): a request
 * with a JSON schema gets its valid answer, or one that is invalid, cut off (`length` /
 * `incomplete`), refused (`refusal`, or plain text) or filtered (`content_filter`).
 */
import { estimateTokens } from './request-text.js';
import {
  chatCompletion,
  completionUsage,
  outputSchema,
  type Reply,
  replyFor,
  response,
  responseObject,
  type ServeContext,
  type Served,
  SYSTEM_FINGERPRINT,
} from './responses.js';
import { cutText, firstUserText, invalidText, REFUSAL_TEXT, shapeOf } from './structured.js';

/** A structured answer gone wrong: its text, refusal and finish reason. */
export interface ShapedReply {
  text: string | null;
  refusal: string | null;
  finish: 'stop' | 'length' | 'content_filter';
}

/** How the scenario shapes the reply to a structured request; undefined: the reply as it is. */
export function shapedReply(
  body: Record<string, unknown>,
  reply: Reply,
  ctx: ServeContext,
): ShapedReply | undefined {
  if (!ctx.structured || reply.kind !== 'text') return undefined;
  const schema = outputSchema(body);
  if (schema === undefined) return undefined;
  const shape = shapeOf(body, ctx.structured);
  switch (shape.kind) {
    case 'valid':
      return undefined;
    case 'invalid':
      return { text: invalidText(reply.text, schema, shape.variant), refusal: null, finish: 'stop' };
    case 'truncated':
      return { text: cutText(reply.text), refusal: null, finish: 'length' };
    case 'refused':
      return shape.plain
        ? { text: REFUSAL_TEXT, refusal: null, finish: 'stop' }
        : { text: null, refusal: REFUSAL_TEXT, finish: 'stop' };
    case 'filtered':
      return { text: null, refusal: null, finish: 'content_filter' };
  }
}

const shapedTokens = (shaped: ShapedReply) => estimateTokens(shaped.text ?? shaped.refusal ?? '');

function shapedChat(shaped: ShapedReply, n: number, ctx: ServeContext): Served {
  const completionTokens = shapedTokens(shaped) * n;
  const message = { role: 'assistant', content: shaped.text, refusal: shaped.refusal, annotations: [] };
  return {
    body: {
      id: `chatcmpl-${ctx.id}`,
      object: 'chat.completion',
      created: ctx.created,
      model: ctx.model,
      choices: Array.from({ length: n }, (_, index) => ({
        index,
        message,
        logprobs: null,
        finish_reason: shaped.finish,
      })),
      usage: completionUsage(ctx.promptTokens, completionTokens),
      service_tier: 'default',
      system_fingerprint: SYSTEM_FINGERPRINT,
    },
    totalTokens: ctx.promptTokens + completionTokens,
  };
}

/**
 * Under the scenario, a structured answer's strings echo the row's first user message, so a
 * re-asked row's `parsed` reads like any other's.
 */
function scenarioContext(body: Record<string, unknown>, ctx: ServeContext): ServeContext {
  if (!ctx.structured || outputSchema(body) === undefined) return ctx;
  return { ...ctx, fingerprint: firstUserText(body) };
}

/** A chat completion, shaped by the scenario when the request has a schema. */
export function structuredChat(body: Record<string, unknown>, served: ServeContext): Served {
  const ctx = scenarioContext(body, served);
  const shaped = shapedReply(body, replyFor(body, ctx.fingerprint), ctx);
  if (!shaped) return chatCompletion(body, ctx);
  const n = typeof body['n'] === 'number' && Number.isInteger(body['n']) && body['n'] >= 1 ? body['n'] : 1;
  return shapedChat(shaped, Math.min(n, 128), ctx);
}

/** A responses answer, shaped by the scenario when the request has a schema. */
export function structuredResponse(body: Record<string, unknown>, served: ServeContext): Served {
  const ctx = scenarioContext(body, served);
  const reply = replyFor(body, ctx.fingerprint);
  const shaped = shapedReply(body, reply, ctx);
  if (!shaped) return response(body, ctx);
  const content =
    shaped.refusal !== null
      ? [{ type: 'refusal', refusal: shaped.refusal }]
      : [{ type: 'output_text', text: shaped.text ?? '', annotations: [], logprobs: [] }];
  const incomplete = shaped.finish !== 'stop';
  const message = {
    id: `msg_${ctx.id}`,
    type: 'message',
    status: incomplete ? 'incomplete' : 'completed',
    role: 'assistant',
    content,
  };
  const outputTokens = shapedTokens(shaped);
  const object = responseObject(body, ctx, reply, true);
  return {
    body: {
      ...object,
      status: incomplete ? 'incomplete' : 'completed',
      incomplete_details: incomplete
        ? { reason: shaped.finish === 'length' ? 'max_output_tokens' : 'content_filter' }
        : null,
      output: shaped.text === null && shaped.refusal === null ? [] : [message],
      usage: {
        input_tokens: ctx.promptTokens,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: outputTokens,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: ctx.promptTokens + outputTokens,
      },
    },
    totalTokens: ctx.promptTokens + outputTokens,
  };
}
