/**
 * JSON Schema -> a validator, with ajv: compiled once per schema (ajv generates a function per
 * schema, the fastest well-kept validator for JSON Schema; see docs/structured-outputs.md for the
 * measurement against zod). The draft is the schema's `$schema` (2020-12, 2019-09), else draft-07,
 * whose keywords OpenAI's subset uses (`$defs` included). A schema that is not valid JSON Schema is
 * refused with one line naming where it came from and the first problems.
 */
import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { InputError } from '../errors.js';

/** What a validation says: the value, or each error as `/path: message`. */
export type Validation = { ok: true; value: unknown } | { ok: false; errors: string[] };

/** Validation errors given back to the model (and kept in a row) at most: the first are enough to fix. */
export const MAX_ERRORS = 20;

const OPTIONS: Options = {
  // Every error at once, so one re-ask can fix them all.
  allErrors: true,
  // Unknown keywords (a typo like "requird") are refused; loose typing rules are not (unions, tuples).
  strictSchema: true,
  strictTypes: false,
  strictTuples: false,
  strictRequired: false,
  allowUnionTypes: true,
  // Formats are hints to the model here (ajv checks none without ajv-formats): never refused.
  validateFormats: false,
};

type AjvInstance = Ajv | Ajv2019 | Ajv2020;

function ajvFor(schema: Record<string, unknown>): AjvInstance {
  const draft = typeof schema['$schema'] === 'string' ? schema['$schema'] : '';
  if (draft.includes('2020-12')) return new Ajv2020(OPTIONS);
  if (draft.includes('2019-09')) return new Ajv2019(OPTIONS);
  return new Ajv(OPTIONS);
}

/** One error as `/path: message`, with the property or values it names. */
export function formatAjvError(error: ErrorObject): string {
  const path = error.instancePath === '' ? '/' : error.instancePath;
  const params = error.params as Record<string, unknown>;
  let detail = '';
  if (error.keyword === 'additionalProperties') detail = ` ('${String(params['additionalProperty'])}')`;
  if (error.keyword === 'enum' && Array.isArray(params['allowedValues'])) {
    detail = `: ${params['allowedValues'].map((v) => JSON.stringify(v)).join(', ')}`;
  }
  return `${path}: ${error.message ?? error.keyword}${detail}`;
}

/** At most MAX_ERRORS, with a count of the rest. */
export function capErrors(errors: string[]): string[] {
  if (errors.length <= MAX_ERRORS) return errors;
  return [...errors.slice(0, MAX_ERRORS), `(and ${errors.length - MAX_ERRORS} more)`];
}

/**
 * Compiles `schema`; `where` names it in errors (`schema.json`, "the `schema` option").
 * Throws InputError `<where>: not a valid JSON Schema: <problems>`.
 */
export function compileJsonSchema(schema: unknown, where: string): (value: unknown) => Validation {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
    throw new InputError(`${where}: not a valid JSON Schema: expected an object, got ${describe(schema)}`);
  }
  const ajv = ajvFor(schema as Record<string, unknown>);
  let validate: ValidateFunction;
  try {
    if (!ajv.validateSchema(schema)) {
      throw new InputError(`${where}: not a valid JSON Schema: ${metaProblem(schema, ajv.errors ?? [])}`);
    }
    validate = ajv.compile(schema);
  } catch (error) {
    if (error instanceof InputError) throw error;
    // Strict-mode refusals (an unknown keyword) and unresolvable $refs.
    throw new InputError(`${where}: not a valid JSON Schema: ${(error as Error).message}`);
  }
  return (value) => {
    if (validate(value)) return { ok: true, value };
    return { ok: false, errors: capErrors((validate.errors ?? []).map(formatAjvError)) };
  };
}

/** The first meta-schema error, with the path and the value found there (`/properties/a/type: "strng" …`). */
function metaProblem(schema: object, errors: ErrorObject[]): string {
  const first = errors[0];
  if (!first) return 'refused by the meta-schema';
  let value: unknown = schema;
  for (const part of first.instancePath.split('/').slice(1)) {
    const key = part.replaceAll('~1', '/').replaceAll('~0', '~');
    value = (value as Record<string, unknown> | undefined)?.[key];
  }
  const shown = JSON.stringify(value)?.slice(0, 60) ?? 'undefined';
  const at = first.instancePath === '' ? 'the schema' : first.instancePath;
  return `${at} is ${shown}: ${first.message ?? first.keyword}`;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}
