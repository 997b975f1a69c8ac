/**
 * A deterministic JSON value of a JSON schema, for tool-call arguments and structured outputs:
 * every property (required or not) is filled; strings are the request's fingerprint (so a test can
 * tell which request an answer is for), enums their first value, numbers and integers the lowest
 * value the bounds allow near 1, booleans `true`, arrays `max(1, minItems)` items. `$ref`s into
 * `$defs` / `definitions` are followed; `anyOf` / `oneOf` / `allOf` take their first branch.
 */

type Schema = Record<string, unknown>;

function isRecord(value: unknown): value is Schema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const MAX_DEPTH = 12;

function resolveRef(ref: string, root: Schema): Schema | null {
  const match = /^#\/(\$defs|definitions)\/(.+)$/.exec(ref);
  if (!match) return null;
  const defs = root[match[1] as string];
  const target = isRecord(defs) ? defs[decodeURIComponent(match[2] as string)] : undefined;
  return isRecord(target) ? target : null;
}

function typeOf(schema: Schema): string | undefined {
  const type = schema['type'];
  if (typeof type === 'string') return type;
  if (Array.isArray(type)) {
    const first = type.find((t) => typeof t === 'string' && t !== 'null') ?? type[0];
    return typeof first === 'string' ? first : undefined;
  }
  if (isRecord(schema['properties'])) return 'object';
  if (schema['items'] !== undefined) return 'array';
  return undefined;
}

function stringValue(schema: Schema, text: string): string {
  switch (schema['format']) {
    case 'date':
      return '2024-01-01';
    case 'date-time':
      return '2024-01-01T00:00:00Z';
    case 'time':
      return '00:00:00';
    case 'email':
      return 'sim@example.com';
    case 'uri':
    case 'url':
      return 'https://example.com/';
    case 'uuid':
      return '00000000-0000-4000-8000-000000000000';
  }
  let value = text;
  const min = schema['minLength'];
  const max = schema['maxLength'];
  if (typeof min === 'number' && value.length < min) value = value.padEnd(min, '.');
  if (typeof max === 'number' && value.length > max) value = value.slice(0, max);
  return value;
}

function numberValue(schema: Schema, integer: boolean): number {
  const num = (key: string) => (typeof schema[key] === 'number' ? (schema[key] as number) : undefined);
  let value = integer ? 1 : 0.5;
  const min =
    num('minimum') ??
    (num('exclusiveMinimum') !== undefined ? (num('exclusiveMinimum') as number) + 1 : undefined);
  const max =
    num('maximum') ??
    (num('exclusiveMaximum') !== undefined ? (num('exclusiveMaximum') as number) - 1 : undefined);
  if (min !== undefined && value < min) value = min;
  if (max !== undefined && value > max) value = max;
  return integer ? Math.round(value) : value;
}

function valueAt(schema: unknown, root: Schema, text: string, depth: number): unknown {
  if (!isRecord(schema) || depth > MAX_DEPTH) return null;
  if (typeof schema['$ref'] === 'string') {
    const target = resolveRef(schema['$ref'], root);
    return target ? valueAt(target, root, text, depth + 1) : null;
  }
  if ('const' in schema) return schema['const'];
  if (Array.isArray(schema['enum']) && schema['enum'].length > 0) return schema['enum'][0];
  for (const key of ['anyOf', 'oneOf', 'allOf']) {
    const branches = schema[key];
    if (Array.isArray(branches) && branches.length > 0) {
      const branch = branches.find((b) => isRecord(b) && b['type'] !== 'null') ?? branches[0];
      return valueAt(branch, root, text, depth + 1);
    }
  }
  switch (typeOf(schema)) {
    case 'string':
      return stringValue(schema, text);
    case 'integer':
      return numberValue(schema, true);
    case 'number':
      return numberValue(schema, false);
    case 'boolean':
      return true;
    case 'null':
      return null;
    case 'array': {
      const min = typeof schema['minItems'] === 'number' ? schema['minItems'] : 1;
      const items = schema['items'];
      if (Array.isArray(schema['prefixItems'])) {
        return schema['prefixItems'].map((item) => valueAt(item, root, text, depth + 1));
      }
      return Array.from({ length: Math.max(1, min) }, () => valueAt(items ?? {}, root, text, depth + 1));
    }
    case 'object': {
      const properties = schema['properties'];
      if (!isRecord(properties) || Object.keys(properties).length === 0) return { text };
      const value: Record<string, unknown> = {};
      for (const [name, property] of Object.entries(properties)) {
        value[name] = valueAt(property, root, text, depth + 1);
      }
      return value;
    }
    default:
      return text;
  }
}

/**
 * The value of `schema` for a request whose fingerprint is `text`; a schema without properties
 * (or none at all) gives `{ "text": <text> }`.
 */
export function valueForSchema(schema: unknown, text: string): unknown {
  if (!isRecord(schema)) return { text };
  return valueAt(schema, schema, text, 0);
}
