/**
 * A run's output schema, normalised: JSON Schema (an object, or OpenAI's `{ name, schema }` /
 * `response_format` wrappers) or a zod schema, turned into what is sent (`name`, `json`) and what
 * checks an answer (`validate`). JSON Schema is checked by ajv; a zod schema by zod itself, so its
 * refinements and transforms hold and `parsed` is zod's output.
 */
import { InputError } from '../errors.js';
import { compileJsonSchema, MAX_ERRORS, type Validation } from './compile.js';

/** The subset of a zod (v4) schema used here. */
export interface ZodLike {
  safeParse(value: unknown): {
    success: boolean;
    data?: unknown;
    error?: { issues: Array<{ path: PropertyKey[]; message: string }> };
  };
}

/** JSON Schema as an object, or a zod schema. */
export type SchemaInput = Record<string, unknown> | ZodLike;

export interface OutputSchema {
  /** `json_schema.name`: the schema's `title` (or the wrapper's `name`, or the file's name), API-safe. */
  readonly name: string;
  /** The JSON Schema sent to the API. */
  readonly json: Readonly<Record<string, unknown>>;
  /** Which validator checks answers. */
  readonly validator: 'ajv' | 'zod';
  validate(value: unknown): Validation;
}

/** `json_schema.name`: `^[a-zA-Z0-9_-]{1,64}$` (the API's rule). */
const NAME_LENGTH = 64;

export function schemaName(text: string | undefined): string {
  const name = (text ?? '').replace(/[^a-zA-Z0-9_-]+/g, '_').replace(/^_+|_+$/g, '');
  return name.slice(0, NAME_LENGTH) || 'output';
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export function isZodSchema(value: unknown): value is ZodLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { safeParse?: unknown }).safeParse === 'function'
  );
}

/**
 * The schema inside OpenAI's wrappers: `{ type: 'json_schema', json_schema: { name, schema } }`
 * (a `response_format`), `{ name, schema, strict? }` (its `json_schema`), or the schema itself.
 */
export function unwrapSchema(value: Record<string, unknown>): { schema: unknown; name?: string } {
  const inner = isRecord(value['json_schema']) ? value['json_schema'] : value;
  if (isRecord(inner['schema']) && (typeof inner['name'] === 'string' || inner !== value)) {
    const name = inner['name'];
    return typeof name === 'string' ? { schema: inner['schema'], name } : { schema: inner['schema'] };
  }
  return { schema: value };
}

function zodErrors(result: ReturnType<ZodLike['safeParse']>): string[] {
  const issues = result.error?.issues ?? [];
  const errors = issues.map((issue) => `/${issue.path.map(String).join('/')}: ${issue.message}`);
  return errors.length > MAX_ERRORS ? errors.slice(0, MAX_ERRORS) : errors;
}

/** A zod schema's JSON Schema (zod 4's `toJSONSchema`; zod is loaded only for zod schemas). */
async function zodJson(schema: ZodLike, where: string): Promise<Record<string, unknown>> {
  const zod = await import('zod');
  try {
    const json = zod.toJSONSchema(schema as never, { target: 'draft-7', io: 'input' }) as Record<
      string,
      unknown
    >;
    const { $schema: _, ...rest } = json;
    return rest;
  } catch (error) {
    throw new InputError(
      `${where}: this zod schema cannot be sent as JSON Schema (${(error as Error).message}); zod 3 schemas: pass JSON Schema instead`,
    );
  }
}

/**
 * Normalises a schema given to a run. `where` names it in errors ("the `schema` option",
 * `schema.json`); `fallbackName` is used when the schema has no title (e.g. the file's name).
 * Throws InputError for anything that is not a valid schema.
 */
export async function prepareSchema(
  input: unknown,
  where: string,
  fallbackName?: string,
): Promise<OutputSchema> {
  if (isZodSchema(input)) {
    const json = await zodJson(input, where);
    const title = typeof json['title'] === 'string' ? json['title'] : undefined;
    return Object.freeze({
      name: schemaName(title ?? fallbackName),
      json: Object.freeze(json),
      validator: 'zod' as const,
      validate: (value: unknown): Validation => {
        const result = input.safeParse(value);
        return result.success ? { ok: true, value: result.data } : { ok: false, errors: zodErrors(result) };
      },
    });
  }
  return jsonSchema(input, where, fallbackName);
}

/** The synchronous half of `prepareSchema`, for JSON Schema only. */
export function jsonSchema(input: unknown, where: string, fallbackName?: string): OutputSchema {
  if (!isRecord(input)) {
    throw new InputError(`${where}: not a valid JSON Schema: expected an object or a zod schema`);
  }
  const { schema, name } = unwrapSchema(input);
  const validate = compileJsonSchema(schema, where);
  const json = schema as Record<string, unknown>;
  const title = typeof json['title'] === 'string' ? json['title'] : undefined;
  return Object.freeze({
    name: schemaName(name ?? title ?? fallbackName),
    json: Object.freeze({ ...json }),
    validator: 'ajv' as const,
    validate,
  });
}
