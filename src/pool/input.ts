/**
 * The run's input as a stream of items numbered by position, with a fingerprint that identifies it
 * (so a checkpoint is never resumed against other data) and its size when known up front.
 */
import { stat } from 'node:fs/promises';
import { Fingerprint, fingerprintFile, fingerprintValues } from '../checkpoint/index.js';
import { InputError } from '../errors.js';
import { readJsonl } from './jsonl.js';

export type PipelineInput<T> = readonly T[] | Iterable<T> | AsyncIterable<T> | string;

export interface OpenedInput<T> {
  fingerprint: string;
  /** Item count, when known before the run (arrays and files). */
  total: number | undefined;
  /** The items in order, streamed. */
  items: AsyncIterable<T>;
  /** What the input is, for messages: the file path, or `array`, `iterable`. */
  label: string;
}

/** Items of an iterable that identify it: its first ones (the rest cannot be known up front). */
const ITERABLE_PREFIX = 1000;

async function* fromSync<T>(head: T[], rest: Iterator<T> | undefined): AsyncGenerator<T> {
  yield* head;
  if (!rest) return;
  for (let next = rest.next(); !next.done; next = rest.next()) yield next.value;
}

async function* fromAsync<T>(head: T[], rest: AsyncIterator<T>): AsyncGenerator<T> {
  yield* head;
  for (let next = await rest.next(); !next.done; next = await rest.next()) yield next.value;
}

/**
 * Opens `data`. A .jsonl path is read once up front to check every line (a bad line names the
 * file and line before anything runs) and to count and fingerprint it, then streamed again.
 */
export async function openInput<T>(data: PipelineInput<T>): Promise<OpenedInput<T>> {
  if (typeof data === 'string') {
    const info = await stat(data).catch(() => undefined);
    if (!info?.isFile()) throw new InputError(`${data}: no such file`);
    let total = 0;
    for await (const _ of readJsonl(data)) total += 1;
    const fingerprint = await fingerprintFile(data);
    const items = (async function* () {
      for await (const record of readJsonl(data)) yield record.value as T;
    })();
    return { fingerprint, total, items, label: data };
  }
  if (Array.isArray(data)) {
    const array = data as readonly T[];
    return {
      fingerprint: fingerprintValues(array),
      total: array.length,
      items: fromSync([...array], undefined),
      label: 'array',
    };
  }
  if (data && typeof (data as Iterable<T>)[Symbol.iterator] === 'function') {
    const iterator = (data as Iterable<T>)[Symbol.iterator]();
    const head: T[] = [];
    const fingerprint = new Fingerprint();
    for (let next = iterator.next(); !next.done; next = iterator.next()) {
      head.push(next.value);
      fingerprint.update(next.value);
      if (head.length >= ITERABLE_PREFIX) break;
    }
    return {
      fingerprint: `prefix:${fingerprint.digest()}`,
      total: undefined,
      items: fromSync(head, iterator),
      label: 'iterable',
    };
  }
  if (data && typeof (data as AsyncIterable<T>)[Symbol.asyncIterator] === 'function') {
    const iterator = (data as AsyncIterable<T>)[Symbol.asyncIterator]();
    const head: T[] = [];
    const fingerprint = new Fingerprint();
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
      head.push(next.value);
      fingerprint.update(next.value);
      if (head.length >= ITERABLE_PREFIX) break;
    }
    return {
      fingerprint: `prefix:${fingerprint.digest()}`,
      total: undefined,
      items: fromAsync(head, iterator),
      label: 'async iterable',
    };
  }
  throw new InputError(
    `data: expected an array, an iterable, an async iterable or a .jsonl path, got ${data === null ? 'null' : typeof data}`,
  );
}
