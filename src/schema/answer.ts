/**
 * What a chat or responses answer says as a structured output: its text, or a failure with its
 * own code. Pure functions over the answer body (the SDK's object or a Batch API line's body).
 *
 *   chat  finish_reason "length"          -> TRUNCATED   responses status "incomplete", max_output_tokens -> TRUNCATED
 *   chat  finish_reason "content_filter"  -> FILTERED    responses incomplete, content_filter           -> FILTERED
 *   chat  message.refusal                 -> REFUSED     responses a "refusal" content part             -> REFUSED
 *   a refusal as plain text where JSON was due (not JSON, opens like "I'm sorry, I can't …") -> REFUSED
 */
import type { OutputFailureCode } from '../errors.js';
import type { Validation } from './compile.js';
import type { OutputSchema } from './schema.js';

/** The two endpoints that take a schema (`response_format`, `text.format`). */
export type SchemaEndpoint = 'chat' | 'responses';

export type AnswerText =
  | { kind: 'text'; text: string }
  | { kind: 'failed'; code: OutputFailureCode; message: string; text: string | null };

/** What an answer is worth against a schema. */
export type AnswerCheck =
  | { kind: 'valid'; parsed: unknown }
  /** Not JSON, or JSON that breaks the schema: re-asked with `errors`. */
  | { kind: 'invalid'; text: string; errors: string[] }
  /** TRUNCATED, FILTERED, REFUSED: never re-asked. */
  | { kind: 'failed'; code: OutputFailureCode; message: string; text: string | null };

type Json = Record<string, unknown>;
const asRecord = (value: unknown): Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : {};
const asString = (value: unknown): string | null => (typeof value === 'string' ? value : null);

/**
 * How a refusal sent as plain text opens. Only text that is not JSON is looked at, so a valid
 * answer is never taken for one; anything else that is not JSON is re-asked as invalid.
 */
const PLAIN_REFUSAL =
  /^\s*(?:I['’]m sorry|I am sorry|Sorry,|I apologi[sz]e|I can(?:not|['’]t)\b|I(?:['’]m| am) (?:unable|not able)|I won['’]t)/i;

export const TRUNCATED_HINT =
  'raise --max-tokens (max_tokens / max_output_tokens) and rerun with --retry-failed';

function truncated(text: string | null, what: string): AnswerText {
  return {
    kind: 'failed',
    code: 'TRUNCATED',
    message: `the answer was cut off (${what}); ${TRUNCATED_HINT}`,
    text,
  };
}

function filtered(text: string | null, what: string): AnswerText {
  return {
    kind: 'failed',
    code: 'FILTERED',
    message: `the answer was stopped by the content filter (${what})`,
    text,
  };
}

function refused(refusal: string): AnswerText {
  return { kind: 'failed', code: 'REFUSED', message: `the model refused: ${refusal}`, text: refusal };
}

function chatText(answer: Json): AnswerText {
  const choice = asRecord((answer['choices'] as unknown[] | undefined)?.[0]);
  const message = asRecord(choice['message']);
  const content = asString(message['content']);
  const finish = asString(choice['finish_reason']);
  if (finish === 'length') return truncated(content, 'finish_reason: length');
  if (finish === 'content_filter') return filtered(content, 'finish_reason: content_filter');
  const refusal = asString(message['refusal']);
  if (refusal) return refused(refusal);
  return { kind: 'text', text: content ?? '' };
}

function responsesText(answer: Json): AnswerText {
  const texts: string[] = [];
  let refusal: string | null = null;
  for (const item of Array.isArray(answer['output']) ? answer['output'] : []) {
    const entry = asRecord(item);
    if (entry['type'] !== 'message') continue;
    for (const part of Array.isArray(entry['content']) ? entry['content'] : []) {
      const content = asRecord(part);
      if (content['type'] === 'output_text' && typeof content['text'] === 'string')
        texts.push(content['text']);
      if (content['type'] === 'refusal' && typeof content['refusal'] === 'string')
        refusal = content['refusal'];
    }
  }
  const text = texts.length > 0 ? texts.join('') : null;
  if (answer['status'] === 'incomplete') {
    const reason = asString(asRecord(answer['incomplete_details'])['reason']) ?? 'unknown';
    if (reason === 'content_filter') return filtered(text, 'status: incomplete, content_filter');
    return truncated(text, `status: incomplete, ${reason}`);
  }
  if (refusal) return refused(refusal);
  return { kind: 'text', text: text ?? '' };
}

/** The answer's text, or its failure (TRUNCATED, FILTERED, REFUSED). */
export function answerText(endpoint: SchemaEndpoint, answer: unknown): AnswerText {
  return endpoint === 'chat' ? chatText(asRecord(answer)) : responsesText(asRecord(answer));
}

/** The text parsed as JSON and validated; plain-text refusals are REFUSED. */
export function checkText(text: string, validate: (value: unknown) => Validation): AnswerCheck {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    if (PLAIN_REFUSAL.test(text)) {
      const first = text.trim().split('\n')[0] ?? '';
      return { kind: 'failed', code: 'REFUSED', message: `the model refused: ${first.slice(0, 200)}`, text };
    }
    return { kind: 'invalid', text, errors: [`the answer is not valid JSON (${(error as Error).message})`] };
  }
  const result = validate(value);
  return result.ok
    ? { kind: 'valid', parsed: result.value }
    : { kind: 'invalid', text, errors: result.errors };
}

/** An answer checked against `schema`: valid (with `parsed`), invalid (re-ask), or failed (its code). */
export function checkAnswer(endpoint: SchemaEndpoint, answer: unknown, schema: OutputSchema): AnswerCheck {
  const text = answerText(endpoint, answer);
  if (text.kind === 'failed') return text;
  return checkText(text.text, (value) => schema.validate(value));
}
