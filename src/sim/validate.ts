/**
 * Small validators of simulator options: every problem names the option and the value received.
 */
import { InputError } from '../errors.js';

export function describe(value: unknown): string {
  let shown: string;
  try {
    shown = JSON.stringify(value) ?? String(value);
  } catch {
    shown = String(value);
  }
  return `\`${shown}\` (${value === null ? 'null' : typeof value})`;
}

export function fail(field: string, expected: string, value: unknown): never {
  throw new InputError(`Simulator option \`${field}\` must be ${expected}, got ${describe(value)}`);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function count(value: unknown, field: string, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    fail(field, `an integer >= ${min}`, value);
  }
  return value;
}

export function optionalBoolean(value: unknown, field: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') fail(field, 'true or false', value);
  return value;
}

export function oneOf<T extends string>(value: unknown, field: string, choices: readonly T[]): T {
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    fail(field, `one of ${choices.map((c) => `'${c}'`).join(', ')}`, value);
  }
  return value as T;
}

/** Refuses any field of `section` not in `known`, naming it. */
export function refuseUnknown(
  section: Record<string, unknown>,
  field: string,
  known: readonly string[],
  what: string,
): void {
  for (const name of Object.keys(section)) {
    if (!known.includes(name)) {
      throw new InputError(
        `Simulator option \`${field}.${name}\` is not an option of ${what} (its options: ${known.join(', ')})`,
      );
    }
  }
}
