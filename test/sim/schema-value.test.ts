/** Deterministic values of JSON schemas (tool arguments, structured outputs), as a pure function. */
import { describe, expect, it } from 'vitest';
import { valueForSchema } from '../../src/sim/schema-value.js';

describe('valueForSchema', () => {
  it('fills every property by type, following $ref, anyOf, const, enum and bounds', () => {
    const schema = {
      type: 'object',
      properties: {
        name: { type: 'string', minLength: 8 },
        short: { type: 'string', maxLength: 3 },
        when: { type: 'string', format: 'date-time' },
        count: { type: 'integer', exclusiveMinimum: 4 },
        cap: { type: 'number', maximum: 0.1 },
        flag: { type: ['boolean', 'null'] },
        fixed: { const: 42 },
        color: { enum: ['red', 'blue'] },
        pair: { type: 'array', prefixItems: [{ type: 'integer' }, { type: 'string' }] },
        items: { type: 'array', items: { $ref: '#/definitions/item' }, minItems: 2 },
        maybe: { oneOf: [{ type: 'null' }, { type: 'integer', minimum: 7 }] },
        empty: { type: 'object' },
      },
      definitions: { item: { type: 'object', properties: { id: { type: 'integer' } } } },
    };
    expect(valueForSchema(schema, 'text')).toEqual({
      name: 'text....',
      short: 'tex',
      when: '2024-01-01T00:00:00Z',
      count: 5,
      cap: 0.1,
      flag: true,
      fixed: 42,
      color: 'red',
      pair: [1, 'text'],
      items: [{ id: 1 }, { id: 1 }],
      maybe: 7,
      empty: { text: 'text' },
    });
  });

  it('gives { text } without a schema or properties, and stops at a self-reference', () => {
    expect(valueForSchema(undefined, 'hi')).toEqual({ text: 'hi' });
    expect(valueForSchema({ type: 'object', properties: {} }, 'hi')).toEqual({ text: 'hi' });
    const loop = {
      type: 'object',
      properties: { next: { $ref: '#/$defs/node' } },
      $defs: { node: { type: 'object', properties: { next: { $ref: '#/$defs/node' } } } },
    };
    expect(JSON.stringify(valueForSchema(loop, 'x')).length).toBeLessThan(400);
  });
});
