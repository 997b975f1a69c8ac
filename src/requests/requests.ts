/** Sending one job through the pool-aware client, and telling final API answers from transient ones. */
import type OpenAI from 'openai';
import { APIError } from 'openai';
import type { ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import type { CompletionCreateParamsNonStreaming } from 'openai/resources/completions';
import type { EmbeddingCreateParams } from 'openai/resources/embeddings';
import type { ResponseCreateParamsNonStreaming } from 'openai/resources/responses/responses';
import type { Endpoint } from './endpoint.js';
import { mapParams, runParamsFor } from './endpoint-params.js';
import type { PromptJob } from './records.js';

/** Statuses of an answer that can never succeed as sent: the item gets a final row with `error`. */
const FINAL_STATUSES = new Set([400, 404, 422]);
/** Codes that mean the key has no access to the model: the pool's business, never a final row. */
const MODEL_ACCESS_CODES = new Set(['model_not_found', 'model_not_available', 'unsupported_model']);

/**
 * The request body: the run's model and params, then the record's own fields (which win), with
 * parameters renamed for the endpoint (`max_tokens` is `max_output_tokens` on responses). The
 * records were checked against the endpoint when they were read.
 */
export function requestBody(
  job: PromptJob,
  model: string | undefined,
  params: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const defaults = runParamsFor(job.endpoint, params);
  return mapParams(job.endpoint, { ...(model === undefined ? {} : { model }), ...defaults, ...job.body })
    .body;
}

/** Sends `body` to the job's endpoint; resolves with the API's answer. */
export function send(
  client: OpenAI,
  endpoint: Endpoint,
  body: Record<string, unknown>,
  signal: AbortSignal,
): Promise<unknown> {
  const options = { signal };
  switch (endpoint) {
    case 'chat':
      return client.chat.completions.create(
        body as unknown as ChatCompletionCreateParamsNonStreaming,
        options,
      );
    case 'responses':
      return client.responses.create(body as unknown as ResponseCreateParamsNonStreaming, options);
    case 'completions':
      return client.completions.create(body as unknown as CompletionCreateParamsNonStreaming, options);
    case 'embeddings':
      return client.embeddings.create(body as unknown as EmbeddingCreateParams, options);
  }
}

/** The API's own message of an error answer (the SDK prefixes the status). */
export function apiMessage(error: APIError): string {
  const inner = error.error as { message?: unknown } | undefined;
  return typeof inner?.message === 'string' ? inner.message : error.message;
}

/** An API answer that can never succeed as sent (400/404/422, not a model-access problem). */
export function isFinalAnswer(error: unknown): error is APIError {
  return (
    error instanceof APIError &&
    typeof error.status === 'number' &&
    FINAL_STATUSES.has(error.status) &&
    !(typeof error.code === 'string' && MODEL_ACCESS_CODES.has(error.code))
  );
}

/**
 * What the task throws for an API answer that may succeed later (5xx, 408, 409, … after the
 * client's retries): the API's message with `status` and `code`, the SDK's error as `cause`.
 * Everything else (aborts, no usable key, connection errors) is thrown as it is.
 */
export function transientError(error: unknown): unknown {
  if (!(error instanceof APIError) || typeof error.status !== 'number') return error;
  const wrapped = new Error(apiMessage(error), { cause: error }) as Error & {
    status: number;
    code?: string;
    type?: string;
  };
  wrapped.name = error.name;
  wrapped.status = error.status;
  if (typeof error.code === 'string') wrapped.code = error.code;
  if (typeof error.type === 'string') wrapped.type = error.type;
  return wrapped;
}
