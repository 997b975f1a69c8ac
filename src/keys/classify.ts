/**
 * What an API answer means for the key and the request, decided from `status` and the error's
 * `code`/`type` only — never from message text.
 */

export type Outcome =
  /** 2xx: the request succeeded. */
  | 'ok'
  /** 429 insufficient_quota: the key's quota is spent; the request moves to another key. */
  | 'quota'
  /** 429 otherwise: the key (its group) cools down; the request moves on or waits. */
  | 'rate_limit'
  /** 401, or 403 on the key/org: the key is never used again. */
  | 'invalid'
  /** 404 model_not_found / no access: the key is denied for this model only. */
  | 'denied'
  /** 400/422 and other final 4xx: the request fails as it is; the key is fine. */
  | 'bad_request'
  /** 408, 409, 5xx, timeouts, dropped connections: retried with backoff. */
  | 'retryable';

export interface ApiErrorBody {
  code?: string | null | undefined;
  type?: string | null | undefined;
}

const MODEL_CODES = new Set(['model_not_found', 'model_not_available', 'unsupported_model']);

export function classifyStatus(status: number, error: ApiErrorBody = {}): Outcome {
  if (status >= 200 && status < 300) return 'ok';
  const { code, type } = error;
  if (status === 429)
    return code === 'insufficient_quota' || type === 'insufficient_quota' ? 'quota' : 'rate_limit';
  if ((status === 404 || status === 403) && code && MODEL_CODES.has(code)) return 'denied';
  if (status === 401 || status === 403) return 'invalid';
  if (status === 408 || status === 409 || status >= 500) return 'retryable';
  return 'bad_request';
}

/** Whether the key behind this outcome should take no more requests (for this model, for `denied`). */
export function isKeyFault(outcome: Outcome): boolean {
  return outcome === 'quota' || outcome === 'invalid' || outcome === 'denied' || outcome === 'rate_limit';
}
