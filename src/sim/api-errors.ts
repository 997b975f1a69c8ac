/**
 * Error answers with the real API's bodies, statuses and headers, so the openai SDK raises its
 * real error classes (`AuthenticationError`, `RateLimitError`, …) with the real `code`s.
 */
import type { Admission } from './rate-limit.js';
import { formatResetDuration } from './rate-limit.js';

export interface ApiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export interface ErrorAnswer {
  status: number;
  body: ApiErrorBody;
  headers: Record<string, string>;
}

export function apiError(
  status: number,
  message: string,
  type: string,
  param: string | null = null,
  code: string | null = null,
  headers: Record<string, string> = {},
): ErrorAnswer {
  return { status, body: { error: { message, type, param, code } }, headers };
}

/** `retry-after-ms` and `retry-after` (whole seconds, rounded up) for a wait of `ms`. */
export function retryAfterHeaders(ms: number): Record<string, string> {
  const wait = Math.max(0, Math.ceil(ms));
  return { 'retry-after-ms': String(wait), 'retry-after': String(Math.ceil(wait / 1000)) };
}

export function invalidUrl(method: string, path: string): ErrorAnswer {
  return apiError(404, `Invalid URL (${method} ${path})`, 'invalid_request_error');
}

export function missingApiKey(): ErrorAnswer {
  return apiError(
    401,
    "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
    'invalid_request_error',
  );
}

/** `label` is the redacted key: the message never shows a key in full. */
export function invalidApiKey(label: string): ErrorAnswer {
  return apiError(
    401,
    `Incorrect API key provided: ${label}. You can find your API key at https://platform.openai.com/account/api-keys.`,
    'invalid_request_error',
    null,
    'invalid_api_key',
  );
}

export function mismatchedOrganization(): ErrorAnswer {
  return apiError(
    401,
    'OpenAI-Organization header should match organization for API key',
    'invalid_request_error',
    null,
    'mismatched_organization',
  );
}

export function invalidJson(): ErrorAnswer {
  return apiError(
    400,
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
    'invalid_request_error',
  );
}

export function missingParameter(param: string): ErrorAnswer {
  return apiError(
    400,
    `Missing required parameter: '${param}'.`,
    'invalid_request_error',
    param,
    'missing_required_parameter',
  );
}

export function invalidParameter(param: string, message: string): ErrorAnswer {
  return apiError(400, message, 'invalid_request_error', param, 'invalid_value');
}

export function modelNotFound(model: string): ErrorAnswer {
  return apiError(
    404,
    `The model \`${model}\` does not exist or you do not have access to it.`,
    'invalid_request_error',
    null,
    'model_not_found',
  );
}

export function fileNotFound(id: string): ErrorAnswer {
  return apiError(404, `No such File object: ${id}`, 'invalid_request_error', 'id');
}

export function insufficientQuota(): ErrorAnswer {
  return apiError(
    429,
    'You exceeded your current quota, please check your plan and billing details.',
    'insufficient_quota',
    null,
    'insufficient_quota',
  );
}

export function contextLengthExceeded(limit: number, tokens: number, param: string): ErrorAnswer {
  return apiError(
    400,
    `This model's maximum context length is ${limit} tokens. However, your messages resulted in ${tokens} tokens. Please reduce the length of the messages.`,
    'invalid_request_error',
    param,
    'context_length_exceeded',
  );
}

function windowName(windowMs: number, kind: 'requests' | 'tokens'): string {
  if (windowMs === 60_000) return `${kind} per min (${kind === 'requests' ? 'RPM' : 'TPM'})`;
  if (windowMs === 86_400_000) return `${kind} per day (${kind === 'requests' ? 'RPD' : 'TPD'})`;
  return `${kind} per ${formatResetDuration(windowMs)}`;
}

/** The 429 for a refused admission; `retry-after` headers unless the request can never fit. */
export function rateLimited(
  refusal: Extract<Admission, { allowed: false }>,
  model: string,
  organization: string,
  windowMs: number,
): ErrorAnswer {
  const scope = `Rate limit reached for ${model} in organization ${organization} on ${windowName(windowMs, refusal.kind)}`;
  const counts = `Limit ${refusal.limit}, Used ${refusal.used}, Requested ${refusal.requested}.`;
  if (refusal.tooLarge) {
    return apiError(
      429,
      `Request too large for ${model} in organization ${organization} on ${windowName(windowMs, refusal.kind)}: Limit ${refusal.limit}, Requested ${refusal.requested}. The input or output tokens must be reduced in order to run successfully.`,
      refusal.kind,
      null,
      'rate_limit_exceeded',
    );
  }
  return apiError(
    429,
    `${scope}: ${counts} Please try again in ${formatResetDuration(refusal.retryAfterMs)}. Visit https://platform.openai.com/account/rate-limits to learn more.`,
    refusal.kind,
    null,
    'rate_limit_exceeded',
    retryAfterHeaders(refusal.retryAfterMs),
  );
}

/** A self-hosted server's 503 when every slot is busy and its queue is full (Ollama's words). */
export function serverBusy(): ErrorAnswer {
  return apiError(503, 'server busy, please try again.  maximum pending requests exceeded', 'api_error');
}

export interface StatusContext {
  model: string;
  keyLabel: string;
  param: string;
  contextLimit: number;
  promptTokens: number;
  retryAfterMs: number;
}

/** A plausible real answer for an injected or triggered status. */
export function errorForStatus(status: number, context: StatusContext): ErrorAnswer {
  switch (status) {
    case 400:
      return contextLengthExceeded(
        context.contextLimit,
        Math.max(context.promptTokens, context.contextLimit + 1),
        context.param,
      );
    case 401:
      return invalidApiKey(context.keyLabel);
    case 403:
      return apiError(403, 'You are not allowed to make this request.', 'invalid_request_error', null, null);
    case 404:
      return modelNotFound(context.model);
    case 408:
      return apiError(408, 'Request timed out.', 'timeout', null, 'timeout');
    case 409:
      return apiError(
        409,
        'The request conflicted with another request. Please retry.',
        'invalid_request_error',
      );
    case 429:
      return apiError(
        429,
        `Rate limit reached for ${context.model}. Please try again in ${formatResetDuration(context.retryAfterMs)}.`,
        'requests',
        null,
        'rate_limit_exceeded',
        retryAfterHeaders(context.retryAfterMs),
      );
    case 500:
      return apiError(
        500,
        'The server had an error while processing your request. Sorry about that!',
        'server_error',
      );
    case 502:
      return apiError(502, 'Bad gateway.', 'server_error', null, 'bad_gateway');
    case 503:
      return apiError(
        503,
        'The server is overloaded or not ready yet.',
        'server_error',
        null,
        'service_unavailable',
      );
    default:
      return apiError(
        status,
        `Simulated error (status ${status}).`,
        status >= 500 ? 'server_error' : 'invalid_request_error',
      );
  }
}
