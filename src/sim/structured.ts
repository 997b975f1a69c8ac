/**
 * The structured-outputs scenario (`structured` option): what share of answers to a request with
 * a JSON schema (`response_format` / `text.format`) are invalid on the first try, truncated,
 * refused or filtered. Each row's fate is drawn from a hash of the seed and its first user message,
 * so it is the same online and in a batch, and the same on every run; a re-ask (the conversation
 * has an assistant turn) answers validly once `invalidTries` invalid answers were given.
 */
import { createHash } from 'node:crypto';
import { contentText } from './content-parts.js';
import type { SimStructuredOptions } from './types.js';
import { count, fail, isPlainObject, refuseUnknown } from './validate.js';

export interface ResolvedStructured {
  readonly invalidRate: number;
  readonly truncatedRate: number;
  readonly refusedRate: number;
  readonly filteredRate: number;
  readonly invalidTries: number;
  readonly seed: number;
}

/** How an answer to a structured request is shaped. */
export type Shape =
  | { kind: 'valid' }
  /** 0: JSON inside prose (not JSON), 1: a required property left out, 2: a property of the wrong type. */
  | { kind: 'invalid'; variant: 0 | 1 | 2 }
  | { kind: 'truncated' }
  /** `plain`: the refusal as the message text, not in `refusal`. */
  | { kind: 'refused'; plain: boolean }
  | { kind: 'filtered' };

export const REFUSAL_TEXT = "I'm sorry, but I can't help with that request.";

const FIELDS = [
  'invalidRate',
  'truncatedRate',
  'refusedRate',
  'filteredRate',
  'invalidTries',
  'seed',
] as const;

function rate(value: unknown, field: string): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) fail(field, 'a number from 0 to 1', value);
  return value;
}

export function resolveStructured(value: unknown): ResolvedStructured | undefined {
  if (value === undefined) return undefined;
  if (!isPlainObject(value)) fail('structured', 'an object', value);
  refuseUnknown(value, 'structured', FIELDS, 'structured');
  const resolved = {
    invalidRate: rate(value['invalidRate'], 'structured.invalidRate'),
    truncatedRate: rate(value['truncatedRate'], 'structured.truncatedRate'),
    refusedRate: rate(value['refusedRate'], 'structured.refusedRate'),
    filteredRate: rate(value['filteredRate'], 'structured.filteredRate'),
    invalidTries: count(value['invalidTries'], 'structured.invalidTries', 1, 1),
    seed: count(value['seed'], 'structured.seed', 1),
  };
  const sum = resolved.invalidRate + resolved.truncatedRate + resolved.refusedRate + resolved.filteredRate;
  if (sum > 1) fail('structured', 'rates that add up to at most 1', value);
  return Object.freeze(resolved);
}

type Json = Record<string, unknown>;

/** The conversation of a chat or responses request, as messages. */
function turns(body: Json): Json[] {
  const list = Array.isArray(body['messages']) ? body['messages'] : body['input'];
  if (typeof list === 'string') return [{ role: 'user', content: list }];
  return Array.isArray(list) ? list.filter(isPlainObject) : [];
}

/** A row's draw from 0 to 1 and a second byte for the variant: from the seed and its first user message. */
function draw(seed: number, text: string): { u: number; byte: number } {
  const digest = createHash('sha256').update(`${seed}\0${text}`).digest();
  return { u: digest.readUInt32LE(0) / 2 ** 32, byte: digest[4] ?? 0 };
}

/** The text of the first user message: what a row is known by (a re-ask adds turns after it). */
export function firstUserText(body: Json): string {
  const first = turns(body).find((m) => m['role'] === 'user');
  return first ? contentText(first['content']) : '';
}

/** The shape of the answer to a structured request under `scenario`. */
export function shapeOf(body: Json, scenario: ResolvedStructured): Shape {
  const all = turns(body);
  const text = firstUserText(body);
  const tries = all.filter((m) => m['role'] === 'assistant').length;
  const { u, byte } = draw(scenario.seed, text);
  let edge = scenario.truncatedRate;
  if (u < edge) return { kind: 'truncated' };
  edge += scenario.refusedRate;
  if (u < edge) return { kind: 'refused', plain: byte % 2 === 0 };
  edge += scenario.filteredRate;
  if (u < edge) return { kind: 'filtered' };
  edge += scenario.invalidRate;
  if (u < edge && tries < scenario.invalidTries) return { kind: 'invalid', variant: (byte % 3) as 0 | 1 | 2 };
  return { kind: 'valid' };
}

/** A valid answer's text made invalid the way `variant` says (prose around it when it cannot be). */
export function invalidText(valid: string, schema: unknown, variant: 0 | 1 | 2): string {
  const prose = `Here is the JSON you asked for: ${valid}`;
  let value: unknown;
  try {
    value = JSON.parse(valid);
  } catch {
    return prose;
  }
  if (variant === 0 || !isPlainObject(value) || Object.keys(value).length === 0) return prose;
  const required = isPlainObject(schema) && Array.isArray(schema['required']) ? schema['required'] : [];
  const name = String(required[0] ?? Object.keys(value)[0]);
  if (variant === 1) {
    const { [name]: _, ...rest } = value;
    return JSON.stringify(rest);
  }
  const wrong = typeof value[name] === 'string' ? 42 : 'not the right type';
  return JSON.stringify({ ...value, [name]: wrong });
}

/** Half the text (at least one character less): an answer cut off by the token limit. */
export function cutText(text: string): string {
  return text.slice(0, Math.max(0, Math.min(text.length - 1, Math.ceil(text.length / 2))));
}

export type { SimStructuredOptions };
