/**
 * Request parameters out of range or of the wrong type, refused with the API's own 400 bodies:
 * `Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 5 instead.`
 * with `param` set and codes `decimal_above_max_value`, `integer_below_min_value`, `invalid_type` ….
 * A `null` parameter counts as unset.
 */
import { apiError, type ErrorAnswer } from './api-errors.js';
import type { ModelEndpoint } from './request-text.js';

interface Range {
  readonly param: string;
  readonly integer: boolean;
  readonly min?: number;
  readonly max?: number;
}

const decimal = (param: string, min: number, max: number): Range => ({ param, integer: false, min, max });
const integer = (param: string, min: number, max?: number): Range =>
  max === undefined ? { param, integer: true, min } : { param, integer: true, min, max };

const RANGES: Record<ModelEndpoint, readonly Range[]> = {
  chat: [
    decimal('temperature', 0, 2),
    decimal('top_p', 0, 1),
    integer('n', 1, 128),
    decimal('presence_penalty', -2, 2),
    decimal('frequency_penalty', -2, 2),
    integer('max_tokens', 1),
    integer('max_completion_tokens', 1),
    integer('top_logprobs', 0, 20),
  ],
  completions: [
    decimal('temperature', 0, 2),
    decimal('top_p', 0, 1),
    integer('n', 1, 128),
    decimal('presence_penalty', -2, 2),
    decimal('frequency_penalty', -2, 2),
    integer('max_tokens', 0),
    integer('logprobs', 0, 5),
    integer('best_of', 0, 20),
  ],
  responses: [
    decimal('temperature', 0, 2),
    decimal('top_p', 0, 1),
    integer('max_output_tokens', 16),
    integer('top_logprobs', 0, 20),
  ],
  embeddings: [integer('dimensions', 1)],
};

function invalidType(param: string, expected: string, value: unknown): ErrorAnswer {
  const got = Array.isArray(value)
    ? 'an array'
    : typeof value === 'string'
      ? 'a string'
      : typeof value === 'boolean'
        ? 'a boolean'
        : typeof value === 'object'
          ? 'an object'
          : `a ${typeof value}`;
  return apiError(
    400,
    `Invalid type for '${param}': expected ${expected}, but got ${got} instead.`,
    'invalid_request_error',
    param,
    'invalid_type',
  );
}

function outOfRange(range: Range, value: number, side: 'below' | 'above'): ErrorAnswer {
  const kind = range.integer ? 'integer' : 'decimal';
  const bound = side === 'below' ? `>= ${range.min}` : `<= ${range.max}`;
  return apiError(
    400,
    `Invalid '${range.param}': ${kind} ${side} ${side === 'below' ? 'minimum' : 'maximum'} value. Expected a value ${bound}, but got ${value} instead.`,
    'invalid_request_error',
    range.param,
    `${kind}_${side}_${side === 'below' ? 'min' : 'max'}_value`,
  );
}

/** The 400 for the first parameter of `body` the endpoint refuses, or `null`. */
export function checkParameters(endpoint: ModelEndpoint, body: Record<string, unknown>): ErrorAnswer | null {
  for (const range of RANGES[endpoint]) {
    const value = body[range.param];
    if (value === undefined || value === null) continue;
    // Chat's `logprobs` is a boolean; completions' is an integer (checked above).
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      return invalidType(range.param, range.integer ? 'an integer' : 'a decimal', value);
    }
    if (range.integer && !Number.isInteger(value)) return invalidType(range.param, 'an integer', value);
    if (range.min !== undefined && value < range.min) return outOfRange(range, value, 'below');
    if (range.max !== undefined && value > range.max) return outOfRange(range, value, 'above');
  }
  if (endpoint === 'chat') {
    const logprobs = body['logprobs'];
    if (logprobs !== undefined && logprobs !== null && typeof logprobs !== 'boolean') {
      return invalidType('logprobs', 'a boolean', logprobs);
    }
  }
  return null;
}
