/**
 * Flag value parsers for commander. A bad value throws commander's InvalidArgumentError, which
 * commander reports naming the flag and the value; the command then exits 2.
 */
import { InvalidArgumentError } from 'commander';

const NUMBER = /^[+]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

function number(value: string): number | undefined {
  const trimmed = value.trim();
  return NUMBER.test(trimmed) ? Number(trimmed) : undefined;
}

/** A whole number >= `min` (workers, concurrency, max tokens, port). */
export function wholeNumber(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const n = number(value);
    if (n === undefined || !Number.isInteger(n) || n < min || n > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
      throw new InvalidArgumentError(`Expected a whole number ${range}.`);
    }
    return n;
  };
}

/** A finite number >= `min` (temperature, seconds). */
export function nonNegative(value: string): number {
  const n = number(value);
  if (n === undefined || !Number.isFinite(n)) throw new InvalidArgumentError('Expected a number >= 0.');
  return n;
}

/** Seconds -> milliseconds. */
export function seconds(value: string): number {
  const n = number(value);
  if (n === undefined || !Number.isFinite(n))
    throw new InvalidArgumentError('Expected a number of seconds >= 0.');
  return Math.round(n * 1000);
}

/** A non-empty string (model names, paths). */
export function nonEmpty(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('Expected a non-empty value.');
  return value;
}

/** Seconds > 0 -> milliseconds, at most a day (a per-attempt time limit). */
export function positiveSeconds(value: string): number {
  const n = number(value);
  if (n === undefined || !Number.isFinite(n) || n <= 0 || n > 86_400)
    throw new InvalidArgumentError('Expected a number of seconds > 0 (at most 86400).');
  return Math.max(1, Math.round(n * 1000));
}
