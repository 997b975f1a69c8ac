/**
 * Tokens a request will count against a tokens-per-minute limit, estimated before it is sent:
 * the prompt through the model's real tokenizer, plus `max_tokens` (or its kin) or, when the
 * request sets none, the learned mean of completions; times `n`. Answers settle it with `usage`.
 */
import type { CompletionMean } from './completion-mean.js';
import { type Encoder, encoder, encodingFor } from './encoders.js';

export type Endpoint = 'chat' | 'responses' | 'completions' | 'embeddings';

export interface TokenEstimate {
  prompt: number;
  completion: number;
  total: number;
}

/** Chat framing per message and for the reply's start (OpenAI's published counting). */
const PER_MESSAGE = 3;
const PER_NAME = 1;
const REPLY_PRIMING = 3;
/** An image part, at high detail on a 1024² image (low detail is 85). */
const IMAGE_TOKENS = 765;
/**
 * A file part (a PDF, a document): the API bills its extracted text plus an image of each page.
 * Neither is known before the answer, so it is estimated per page, a page taken as
 * `FILE_PAGE_BYTES` of the file; a file given by id (size unknown here) counts as one page.
 */
const FILE_PAGE_BYTES = 100_000;
const FILE_PAGE_TOKENS = IMAGE_TOKENS + 500;
/** The legacy completions endpoint's default `max_tokens`. */
const COMPLETIONS_DEFAULT_MAX = 16;

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function count(enc: Encoder, value: unknown): number {
  if (typeof value === 'string') return value === '' ? 0 : enc.countTokens(value);
  if (value === undefined || value === null) return 0;
  return enc.countTokens(JSON.stringify(value));
}

/** The bytes of a `data:…;base64,` URL or of bare base64 text (0 for anything else). */
function base64Bytes(data: unknown): number {
  if (typeof data !== 'string') return 0;
  const comma = data.startsWith('data:') ? data.indexOf(',') : -1;
  return Math.floor(((data.length - comma - 1) * 3) / 4);
}

/** A file of `bytes` (0: unknown, one page). */
function filePagesTokens(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / FILE_PAGE_BYTES)) * FILE_PAGE_TOKENS;
}

/** A chat `file` part (`file.file_data` / `file.file_id`) or a responses `input_file` part. */
function fileTokens(part: Json): number {
  const file = isObject(part.file) ? part.file : part;
  return filePagesTokens(base64Bytes(file.file_data));
}

/**
 * The tokens of inline data of media type `mediaType` and `base64Length` base64 characters, for
 * estimates that do not parse the body: an image at the high-detail rate, anything else per page.
 */
export function inlineDataTokens(mediaType: string, base64Length: number): number {
  if (mediaType.startsWith('image/')) return IMAGE_TOKENS;
  return filePagesTokens(Math.floor((base64Length * 3) / 4));
}

/**
 * A message's or item's `content`: a string, or parts (text counted, images at a flat rate, files
 * per page; their base64 is never counted as text).
 */
function contentTokens(enc: Encoder, content: unknown): number {
  if (typeof content === 'string') return count(enc, content);
  if (!Array.isArray(content)) return count(enc, content);
  let total = 0;
  for (const part of content) {
    if (typeof part === 'string') total += count(enc, part);
    else if (!isObject(part)) continue;
    else if (typeof part.text === 'string') total += count(enc, part.text);
    else if (typeof part.type === 'string' && /image/.test(part.type)) {
      const detail = isObject(part.image_url) ? part.image_url.detail : part.detail;
      total += detail === 'low' ? 85 : IMAGE_TOKENS;
    } else if (part.type === 'file' || part.type === 'input_file') total += fileTokens(part);
    else total += count(enc, part);
  }
  return total;
}

function messagesTokens(enc: Encoder, messages: unknown): number {
  if (!Array.isArray(messages)) return count(enc, messages);
  let total = REPLY_PRIMING;
  for (const message of messages) {
    if (!isObject(message)) {
      total += PER_MESSAGE + count(enc, message);
      continue;
    }
    total += PER_MESSAGE + count(enc, message.role) + contentTokens(enc, message.content);
    if (typeof message.name === 'string') total += PER_NAME + count(enc, message.name);
    if (message.tool_calls !== undefined) total += count(enc, message.tool_calls);
  }
  return total;
}

/** Tool and schema definitions count too (roughly: their JSON). */
function extrasTokens(enc: Encoder, body: Json): number {
  return (
    count(enc, body.tools) +
    count(enc, body.functions) +
    count(enc, body.response_format) +
    count(enc, body.text)
  );
}

function promptTokens(endpoint: Endpoint, enc: Encoder, body: Json): number {
  switch (endpoint) {
    case 'chat':
      return messagesTokens(enc, body.messages) + extrasTokens(enc, body);
    case 'responses': {
      const input = body.input;
      const inputTokens = Array.isArray(input) ? messagesTokens(enc, input) : count(enc, input);
      return inputTokens + count(enc, body.instructions) + extrasTokens(enc, body);
    }
    case 'completions':
    case 'embeddings': {
      const input = endpoint === 'completions' ? body.prompt : body.input;
      // A list of strings, a token array (its length), or a list of token arrays.
      if (Array.isArray(input)) {
        if (input.every((x) => typeof x === 'number')) return input.length;
        return input.reduce<number>((n, x) => n + (Array.isArray(x) ? x.length : count(enc, x)), 0);
      }
      return count(enc, input);
    }
  }
}

function positive(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

function completionTokens(endpoint: Endpoint, body: Json, mean: CompletionMean | undefined): number {
  if (endpoint === 'embeddings') return 0;
  const cap =
    positive(body.max_completion_tokens) ?? positive(body.max_tokens) ?? positive(body.max_output_tokens);
  const one = cap ?? (endpoint === 'completions' ? COMPLETIONS_DEFAULT_MAX : (mean?.value ?? 0));
  const n = positive(body.best_of) ?? positive(body.n) ?? 1;
  return Math.ceil(one * Math.max(1, n));
}

/**
 * Estimates a request body's tokens for `endpoint`. Malformed bodies give their best effort (a
 * non-object body counts as its JSON), never a throw.
 * @param mean Completions' learned mean, used when the request caps none; without it such a request counts its prompt only.
 */
export function estimateRequestTokens(
  endpoint: Endpoint,
  body: unknown,
  mean?: CompletionMean,
): TokenEstimate {
  const json = isObject(body) ? body : {};
  const enc = encoder(encodingFor(typeof json.model === 'string' ? json.model : undefined));
  const prompt = isObject(body) ? promptTokens(endpoint, enc, json) : count(enc, body);
  const completion = completionTokens(endpoint, json, mean);
  return { prompt, completion, total: prompt + completion };
}

/** Tokens an answer's `usage` reports (chat/completions/embeddings or responses naming), if any. */
export function usageTokens(usage: unknown): TokenEstimate | undefined {
  if (!isObject(usage)) return undefined;
  const prompt = positive(usage.prompt_tokens) ?? positive(usage.input_tokens) ?? 0;
  const completion = positive(usage.completion_tokens) ?? positive(usage.output_tokens) ?? 0;
  const total = positive(usage.total_tokens) ?? prompt + completion;
  if (total === 0 && prompt === 0 && completion === 0 && positive(usage.total_tokens) === undefined)
    return undefined;
  return { prompt, completion, total };
}
