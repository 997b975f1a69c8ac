/**
 * The bounded re-ask: an answer is checked; an invalid one is asked again (the conversation
 * continued with the model's answer and the errors), at most `reask` times; TRUNCATED, FILTERED and
 * REFUSED are never re-asked. The sending is the caller's (`ask`), so the online task, the Batch
 * backend and `completeStructured` share this loop.
 */
import type { OutputFailureCode } from '../errors.js';
import { type AnswerCheck, checkAnswer, type SchemaEndpoint } from './answer.js';
import { reaskBody } from './request.js';
import type { OutputSchema } from './schema.js';

type Json = Record<string, unknown>;

/** Re-asks of one answer by default: two more chances to fix it (`--reask`). */
export const DEFAULT_REASK = 2;

export type StructuredResult =
  | { kind: 'valid'; parsed: unknown }
  | { kind: 'failed'; code: OutputFailureCode; message: string; text: string | null; errors?: string[] };

export interface Settled {
  result: StructuredResult;
  /** The last answer (the one `result` is about). */
  answer: unknown;
  /** Every answer, first to last (what was paid). */
  answers: unknown[];
  /** Re-asks sent. */
  reasks: number;
}

export interface SettleOptions {
  endpoint: SchemaEndpoint;
  /** The request that was answered (with its schema). */
  body: Json;
  /** Its answer. */
  answer: unknown;
  schema: OutputSchema;
  /** Re-asks at most. */
  reask: number;
  /** Sends a re-ask and resolves with its answer (throws as a send does). */
  ask: (body: Json) => Promise<unknown>;
}

/** SCHEMA_INVALID once the re-asks are spent, with the last errors. */
function schemaInvalid(check: AnswerCheck & { kind: 'invalid' }, reasks: number): StructuredResult {
  const after = reasks === 0 ? '' : ` after ${reasks} re-ask${reasks === 1 ? '' : 's'}`;
  return {
    kind: 'failed',
    code: 'SCHEMA_INVALID',
    message: `the answer does not match the schema${after}: ${check.errors.join('; ')}`,
    text: check.text,
    errors: check.errors,
  };
}

export async function settleStructured(options: SettleOptions): Promise<Settled> {
  const { endpoint, schema } = options;
  let body = options.body;
  let answer = options.answer;
  const answers = [answer];
  let check = checkAnswer(endpoint, answer, schema);
  let reasks = 0;
  while (check.kind === 'invalid' && reasks < options.reask) {
    body = reaskBody(endpoint, body, check.text, check.errors);
    answer = await options.ask(body);
    answers.push(answer);
    reasks += 1;
    check = checkAnswer(endpoint, answer, schema);
  }
  const result: StructuredResult =
    check.kind === 'invalid'
      ? schemaInvalid(check, reasks)
      : check.kind === 'valid'
        ? { kind: 'valid', parsed: check.parsed }
        : { kind: 'failed', code: check.code, message: check.message, text: check.text };
  return { result, answer, answers, reasks };
}

/** The `usage` of several answers added up (numbers at the top level and one level down). */
export function sumUsage(answers: readonly unknown[]): unknown {
  const usages = answers
    .map((a) => (a as { usage?: unknown } | null)?.usage)
    .filter((u): u is Json => typeof u === 'object' && u !== null && !Array.isArray(u));
  if (usages.length <= 1) return usages[0] ?? null;
  const add = (into: Json, from: Json, depth: number) => {
    for (const [key, value] of Object.entries(from)) {
      if (typeof value === 'number')
        into[key] = (typeof into[key] === 'number' ? (into[key] as number) : 0) + value;
      else if (depth === 0 && typeof value === 'object' && value !== null && !Array.isArray(value)) {
        const inner = (typeof into[key] === 'object' && into[key] !== null ? into[key] : {}) as Json;
        into[key] = inner;
        add(inner, value as Json, 1);
      } else if (!(key in into)) into[key] = value;
    }
  };
  const total: Json = {};
  for (const usage of usages) add(total, usage, 0);
  return total;
}
