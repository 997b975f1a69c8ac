/**
 * The schema in a request, and the re-ask turn: a pure function each.
 *
 * chat:      response_format: { type: 'json_schema', json_schema: { name, schema, strict: true } }
 * responses: text: { format: { type: 'json_schema', name, schema, strict: true } }
 *
 * A re-ask continues the conversation with the model's answer and a user turn naming the
 * validation errors (instructor's way), rather than sending the same request again.
 */
import type { SchemaEndpoint } from './answer.js';
import type { OutputSchema } from './schema.js';

type Json = Record<string, unknown>;
const isRecord = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Whether `endpoint` takes a schema. */
export function takesSchema(endpoint: string): endpoint is SchemaEndpoint {
  return endpoint === 'chat' || endpoint === 'responses';
}

/** The request's own output format (`response_format`, or responses' `text.format`), if it sets one. */
export function ownFormat(endpoint: SchemaEndpoint, body: Json): Json | undefined {
  if (endpoint === 'chat') return isRecord(body['response_format']) ? body['response_format'] : undefined;
  const text = body['text'];
  return isRecord(text) && isRecord(text['format']) ? text['format'] : undefined;
}

/** The JSON Schema of a request's own `json_schema` format, if it has one. */
export function ownJsonSchema(endpoint: SchemaEndpoint, body: Json): Json | undefined {
  const format = ownFormat(endpoint, body);
  if (format?.['type'] !== 'json_schema') return undefined;
  const inner = endpoint === 'chat' ? format['json_schema'] : format;
  return isRecord(inner) && isRecord(inner['schema']) ? inner : undefined;
}

/** `body` with the run's schema as its output format, unless the request sets its own (which wins). */
export function withSchema(endpoint: SchemaEndpoint, body: Json, schema: OutputSchema): Json {
  if (ownFormat(endpoint, body)) return body;
  const spec = { name: schema.name, schema: schema.json, strict: true };
  if (endpoint === 'chat') return { ...body, response_format: { type: 'json_schema', json_schema: spec } };
  const text = isRecord(body['text']) ? body['text'] : {};
  return { ...body, text: { ...text, format: { type: 'json_schema', ...spec } } };
}

/** The user turn of a re-ask. */
export function reaskMessage(errors: readonly string[]): string {
  return [
    'Your answer does not match the required JSON schema. Fix these errors and answer again with only the corrected JSON:',
    ...errors.map((error) => `- ${error}`),
  ].join('\n');
}

/** The request of a re-ask: the conversation so far, the model's answer, and the errors. */
export function reaskBody(
  endpoint: SchemaEndpoint,
  body: Json,
  answer: string,
  errors: readonly string[],
): Json {
  const turns = [
    { role: 'assistant', content: answer },
    { role: 'user', content: reaskMessage(errors) },
  ];
  if (endpoint === 'chat') {
    const messages = Array.isArray(body['messages']) ? body['messages'] : [];
    return { ...body, messages: [...messages, ...turns] };
  }
  const input = body['input'];
  const before =
    typeof input === 'string' ? [{ role: 'user', content: input }] : Array.isArray(input) ? input : [];
  return { ...body, input: [...before, ...turns] };
}
