/** `createClient(pool)`: a real `openai` client whose every request leases a key from the pool. */
import OpenAI, { type APIError } from 'openai';
import { deserializeError, type SerializedError } from '../errors.js';
import { createPoolFetch, ERROR_HEADER, POOL_BASE_URL, type PoolFetchOptions } from './pool-fetch.js';
import type { KeyBroker } from './types.js';

export interface ClientOptions extends PoolFetchOptions {
  /** Extra headers sent with every request. */
  defaultHeaders?: Record<string, string>;
  /** Wraps the pool's fetch (a chunk's answer memo, `workers/answer-memo.ts`). */
  wrapFetch?: (fetch: typeof globalThis.fetch) => typeof globalThis.fetch;
}

/** Longest timer Node allows; per-attempt time limits are the pool's (`timeoutMs`). */
const SDK_TIMEOUT_MS = 2 ** 31 - 1;

/** Rebuilds the keybatch error a pool answer carries (e.g. no usable key within the wait timeout). */
function poolError(code: string, body: unknown): Error {
  const data = (body as { error?: SerializedError } | undefined)?.error;
  return deserializeError({ name: 'KeybatchError', message: code, ...data, code });
}

class PoolClient extends OpenAI {
  protected override makeStatusError(
    status: number,
    error: object,
    message: string | undefined,
    headers: Headers,
  ): APIError {
    const code = headers.get(ERROR_HEADER);
    // A keybatch error is thrown as itself, not as an API error (the SDK throws whatever this returns).
    if (code) return poolError(code, error) as unknown as APIError;
    return super.makeStatusError(status, error, message, headers);
  }
}

/**
 * An `openai` client over the pool: each request leases a usable key, uses its key, organization
 * and base URL, reports the answer to the pool, and is retried in one place (the SDK's own retries
 * are off). Errors: the SDK's error classes for API answers (`BadRequestError`, …), and
 * `NoUsableKeyError` when no key can serve the request.
 */
export function createClient(pool: KeyBroker, options: ClientOptions = {}): OpenAI {
  return new PoolClient({
    apiKey: 'keybatch-pool',
    baseURL: POOL_BASE_URL,
    maxRetries: 0,
    timeout: SDK_TIMEOUT_MS,
    fetch: options.wrapFetch
      ? options.wrapFetch(createPoolFetch(pool, options))
      : createPoolFetch(pool, options),
    ...(options.defaultHeaders ? { defaultHeaders: options.defaultHeaders } : {}),
  });
}
