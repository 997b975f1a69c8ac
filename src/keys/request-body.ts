/**
 * What the pool needs to know of a request before it is sent: the endpoint its path names, its
 * model, whether it streams, and its tokens (the real tokenizer, or a quick estimate from length).
 */
import type { CompletionMean } from '../tokens/completion-mean.js';
import { type Endpoint, estimateRequestTokens, inlineDataTokens } from '../tokens/estimate.js';

/** The endpoint a request path names, for token estimates (undefined: not a model request). */
export function endpointOf(path: string): Endpoint | undefined {
  const route = path.split('?')[0]!;
  if (route === '/chat/completions') return 'chat';
  if (route === '/responses') return 'responses';
  if (route === '/completions') return 'completions';
  if (route === '/embeddings') return 'embeddings';
  return undefined;
}

export interface BodyEstimate {
  /** The real tokenizer (else characters ÷ 4). @default false */
  tokenizer?: boolean;
  /** Completions' learned mean, for requests that cap none. */
  mean?: CompletionMean;
}

/** A quick estimate without the tokenizer: characters ÷ 4 plus the completion cap or mean. */
function lengthEstimate(
  body: string,
  parsed: Record<string, unknown>,
  endpoint: Endpoint | undefined,
  mean?: CompletionMean,
): number {
  const cap = Number(parsed.max_completion_tokens ?? parsed.max_tokens ?? parsed.max_output_tokens);
  const completion =
    endpoint === 'embeddings'
      ? 0
      : Number.isFinite(cap) && cap >= 0
        ? cap
        : endpoint
          ? (mean?.value ?? 0)
          : 0;
  return textTokens(body) + Math.ceil(completion);
}

/** `data:<type>;base64,<data>` in a request body: inline images and files. */
const DATA_URL = /data:([\w.+-]+\/[\w.+-]+);base64,([A-Za-z0-9+/=]*)/g;

/**
 * Characters ÷ 4, but an inline image or file counts as what it bills (an image, a file's pages),
 * never its base64 as text: a 20 MB PDF is not 7M tokens.
 */
function textTokens(body: string): number {
  if (!body.includes(';base64,')) return Math.ceil(body.length / 4);
  let length = body.length;
  let inline = 0;
  for (const match of body.matchAll(DATA_URL)) {
    length -= match[0].length;
    inline += inlineDataTokens(match[1]!, match[2]!.length);
  }
  return Math.ceil(length / 4) + inline;
}

/** What the pool needs to know of a request body: the model, a token estimate, whether it asks for a stream. */
export function describeBody(
  body: unknown,
  path = '',
  estimate: BodyEstimate = {},
): { model?: string; tokens: number; stream?: boolean } {
  if (typeof body !== 'string') return { tokens: 1 };
  let parsed: Record<string, unknown>;
  try {
    const value: unknown = JSON.parse(body);
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      return { tokens: Math.ceil(body.length / 4) };
    parsed = value as Record<string, unknown>;
  } catch {
    return { tokens: Math.ceil(body.length / 4) };
  }
  const endpoint = endpointOf(path);
  const tokens =
    endpoint && estimate.tokenizer
      ? estimateRequestTokens(endpoint, parsed, estimate.mean).total
      : lengthEstimate(body, parsed, endpoint, estimate.mean);
  const stream = parsed.stream === true;
  return typeof parsed.model === 'string' ? { model: parsed.model, tokens, stream } : { tokens, stream };
}
