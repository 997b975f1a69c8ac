/**
 * Structured outputs for `runPipeline` tasks (and any `openai` client):
 *
 *   const { parsed } = await completeStructured(ctx.client, { model, messages }, schema);   // sends, re-asks
 *   const value = parseResponse(answer, schema);                                           // checks one answer
 *
 * Both throw StructuredOutputError (SCHEMA_INVALID with `errors`, TRUNCATED, FILTERED, REFUSED),
 * the same codes runPrompts writes in its rows. Schemas are compiled once per schema object.
 */
import type OpenAI from 'openai';
import { StructuredOutputError } from '../errors.js';
import { checkAnswer, type SchemaEndpoint } from './answer.js';
import { withSchema } from './request.js';
import { isZodSchema, jsonSchema, type OutputSchema, prepareSchema, type SchemaInput } from './schema.js';
import { DEFAULT_REASK, type Settled, settleStructured } from './settle.js';

export { jsonSchema, type OutputSchema, prepareSchema, type SchemaInput } from './schema.js';

/** Compiled schemas by the object given (a task calls with the same schema every time). */
const compiled = new WeakMap<object, OutputSchema>();

/** The validator of `schema`, compiled once (zod: its own `safeParse`; no JSON Schema needed). */
function validatorOf(schema: SchemaInput): OutputSchema {
  let known = compiled.get(schema);
  if (!known) {
    known = isZodSchema(schema)
      ? {
          name: 'output',
          json: {},
          validator: 'zod',
          validate: (value) => {
            const result = schema.safeParse(value);
            if (result.success) return { ok: true, value: result.data };
            const issues = result.error?.issues ?? [];
            return { ok: false, errors: issues.map((i) => `/${i.path.map(String).join('/')}: ${i.message}`) };
          },
        }
      : jsonSchema(schema, 'the schema');
    compiled.set(schema, known);
  }
  return known;
}

/** Prepared schemas (with the JSON Schema to send) by the object given. */
const prepared = new WeakMap<object, Promise<OutputSchema>>();

function preparedOf(schema: SchemaInput): Promise<OutputSchema> {
  let known = prepared.get(schema);
  if (!known) {
    known = prepareSchema(schema, 'the schema');
    prepared.set(schema, known);
    known.catch(() => prepared.delete(schema));
  }
  return known;
}

/** Which endpoint an answer is from: a Responses API `response`, else a chat completion. */
function endpointOf(answer: unknown): SchemaEndpoint {
  const a = answer as { object?: unknown; output?: unknown } | null;
  return a?.object === 'response' || (a?.object === undefined && Array.isArray(a?.output))
    ? 'responses'
    : 'chat';
}

function toError(result: Settled['result'] & { kind: 'failed' }): StructuredOutputError {
  return new StructuredOutputError(result.code, result.message, result.errors ?? []);
}

/**
 * The object of a chat completion or responses answer, valid against `schema` (zod: zod's
 * output). Throws StructuredOutputError: TRUNCATED, FILTERED, REFUSED, or SCHEMA_INVALID.
 */
export function parseResponse<T = unknown>(answer: unknown, schema: SchemaInput): T {
  const check = checkAnswer(endpointOf(answer), answer, validatorOf(schema));
  if (check.kind === 'valid') return check.parsed as T;
  if (check.kind === 'failed') throw new StructuredOutputError(check.code, check.message);
  throw new StructuredOutputError(
    'SCHEMA_INVALID',
    `the answer does not match the schema: ${check.errors.join('; ')}`,
    check.errors,
  );
}

export interface CompleteStructuredOptions {
  /** The API the request goes to. @default 'chat' */
  endpoint?: SchemaEndpoint;
  /** Re-asks of an answer that does not match, then SCHEMA_INVALID. @default 2 */
  reask?: number;
  /** Aborts the requests in flight (pass `ctx.signal`). @default none */
  signal?: AbortSignal;
}

export interface StructuredAnswer<T = unknown> {
  parsed: T;
  /** The last answer (the valid one). */
  answer: unknown;
  /** Every answer, the re-asks' included (what was paid). */
  answers: unknown[];
  reasks: number;
}

/**
 * Sends `request` with `schema` as its output format (unless it sets its own), checks the answer
 * and re-asks with the validation errors at most `reask` times. Resolves with the parsed object;
 * rejects with StructuredOutputError, or with the API's error as a request would.
 */
export async function completeStructured<T = unknown>(
  client: OpenAI,
  request: Record<string, unknown>,
  schema: SchemaInput,
  options: CompleteStructuredOptions = {},
): Promise<StructuredAnswer<T>> {
  const endpoint = options.endpoint ?? 'chat';
  const ready = await preparedOf(schema);
  const ask = (body: Record<string, unknown>): Promise<unknown> => {
    const opts = options.signal ? { signal: options.signal } : {};
    return endpoint === 'chat'
      ? client.chat.completions.create(body as never, opts)
      : client.responses.create(body as never, opts);
  };
  const body = withSchema(endpoint, request, ready);
  const settled = await settleStructured({
    endpoint,
    body,
    answer: await ask(body),
    schema: ready,
    reask: options.reask ?? DEFAULT_REASK,
    ask,
  });
  if (settled.result.kind === 'failed') throw toError(settled.result);
  const { answer, answers, reasks } = settled;
  return { parsed: settled.result.parsed as T, answer, answers, reasks };
}
