/** A 20-field-ish schema, a structured scenario, and what the simulator decides for each row. */
import { resolveStructured, type Shape, shapeOf } from '../../src/sim/structured.js';
import type { SimStructuredOptions } from '../../src/sim/types.js';

export const PERSON = {
  title: 'person',
  type: 'object',
  properties: {
    name: { type: 'string' },
    age: { type: 'integer', minimum: 0 },
    tags: { type: 'array', items: { type: 'string' } },
    address: {
      type: 'object',
      properties: { city: { type: 'string' }, zip: { type: 'string' } },
      required: ['city', 'zip'],
      additionalProperties: false,
    },
  },
  required: ['name', 'age', 'tags', 'address'],
  additionalProperties: false,
} as const;

/** The acceptance scenario: 10% invalid on the first try, 2% truncated, 1% refused, 1% filtered. */
export const SCENARIO: SimStructuredOptions = {
  invalidRate: 0.1,
  truncatedRate: 0.02,
  refusedRate: 0.01,
  filteredRate: 0.01,
};

/** The simulator's fate of a row whose (first) user message is `prompt`. */
export function fateOf(prompt: string, scenario: SimStructuredOptions = SCENARIO): Shape['kind'] {
  const resolved = resolveStructured(scenario);
  if (!resolved) return 'valid';
  return shapeOf({ messages: [{ role: 'user', content: prompt }] }, resolved).kind;
}

export const CODE_OF: Partial<Record<Shape['kind'], string>> = {
  truncated: 'TRUNCATED',
  refused: 'REFUSED',
  filtered: 'FILTERED',
};

/** Rows by fate, counted. */
export function fates(prompts: readonly string[], scenario: SimStructuredOptions = SCENARIO) {
  const counts: Record<string, number> = {};
  for (const prompt of prompts) {
    const fate = fateOf(prompt, scenario);
    counts[fate] = (counts[fate] ?? 0) + 1;
  }
  return counts;
}
