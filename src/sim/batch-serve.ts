/**
 * One batch line answered as the online endpoint would answer it (model access, parameters,
 * triggers, context limit), without quota or rate limits: the Batch API has its own.
 */
import * as errors from './api-errors.js';
import type { ServedLine } from './batches.js';
import { checkContentParts, type FileResolver } from './content-parts.js';
import type { ResolvedKey, ResolvedOptions } from './options.js';
import { acceptsModel, SIMULATOR_DEFAULTS } from './options.js';
import { checkParameters } from './params.js';
import { type ModelEndpoint, readRequestText } from './request-text.js';
import { embeddings, type ServeContext, type Served, textCompletion } from './responses.js';
import { structuredChat, structuredResponse } from './structured-answers.js';
import type { TriggerMemory } from './triggers.js';

type AnswerInput = { status: number; body: unknown };

export const SERVE: Record<ModelEndpoint, (body: Record<string, unknown>, ctx: ServeContext) => Served> = {
  chat: structuredChat,
  completions: textCompletion,
  embeddings,
  responses: structuredResponse,
};

/** The model endpoint of a batch's `endpoint` URL. */
export const BATCH_URLS: Record<string, ModelEndpoint> = {
  '/v1/chat/completions': 'chat',
  '/v1/completions': 'completions',
  '/v1/embeddings': 'embeddings',
  '/v1/responses': 'responses',
};

/** The 400 for a body an endpoint cannot read (no model, no messages, no input), or `null`. */
export function checkShape(
  endpoint: ModelEndpoint,
  body: Record<string, unknown>,
): errors.ErrorAnswer | null {
  const model = body['model'];
  if (typeof model !== 'string' || model.length === 0) {
    return errors.apiError(400, 'you must provide a model parameter', 'invalid_request_error');
  }
  if (endpoint === 'chat' && !Array.isArray(body['messages'])) return errors.missingParameter('messages');
  if (endpoint === 'embeddings' && body['input'] === undefined) return errors.missingParameter('input');
  return null;
}

export interface LineDeps {
  options: ResolvedOptions;
  triggers: TriggerMemory;
  nextId: () => string;
  /** Uploaded files of the key's organization. */
  resolve: FileResolver;
}

export function serveBatchLine(
  deps: LineDeps,
  spec: ResolvedKey,
  url: string,
  body: Record<string, unknown>,
): ServedLine {
  const { options } = deps;
  const endpoint = BATCH_URLS[url] ?? 'chat';
  const text = readRequestText(endpoint, body, deps.resolve);
  const failed = (a: AnswerInput, hangs = false): ServedLine => ({
    status: a.status,
    body: a.body,
    tokens: text.promptTokens,
    inputTokens: 0,
    outputTokens: 0,
    hangs,
  });
  const shape = checkShape(endpoint, body) ?? checkContentParts(body, deps.resolve);
  if (shape) return failed(shape);
  const model = body['model'] as string;
  if (!acceptsModel(spec.models ?? options.acceptedModels, model)) return failed(errors.modelNotFound(model));
  const refused = checkParameters(endpoint, body);
  if (refused) return failed(refused);
  const context = {
    model,
    keyLabel: spec.label,
    param: text.param,
    contextLimit: options.contextLimit,
    promptTokens: text.promptTokens,
    retryAfterMs: SIMULATOR_DEFAULTS.faultRetryAfterMs,
  };
  const triggered = deps.triggers.evaluate(text.fingerprint)?.action;
  if (triggered) {
    // A dropped connection is a server error here; a hang is a line that never completes.
    const status = triggered.kind === 'status' ? triggered.status : 500;
    return failed(errors.errorForStatus(status, context), triggered.kind === 'hang');
  }
  if (text.promptTokens > options.contextLimit) {
    return failed(errors.contextLengthExceeded(options.contextLimit, text.promptTokens, text.param));
  }
  const ctx: ServeContext = {
    id: deps.nextId(),
    model,
    created: Math.floor(Date.now() / 1000),
    fingerprint: text.fingerprint,
    promptTokens: text.promptTokens,
    ...(options.structured ? { structured: options.structured } : {}),
  };
  const served = SERVE[endpoint](body, ctx);
  return {
    status: 200,
    body: served.body,
    tokens: text.promptTokens,
    inputTokens: text.promptTokens,
    outputTokens: served.totalTokens - text.promptTokens,
    hangs: false,
  };
}
