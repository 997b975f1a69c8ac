/**
 * The run's input as a stream of items numbered by position, with a fingerprint that identifies it
 * (so a checkpoint is never resumed against other data) and its size when known up front.
 *
 * Items come in batches (a block of file lines, a slice of an array), so the planner takes one
 * await per batch rather than per item, and an item it skips (done in the checkpoint) is never
 * parsed from its file line.
 */
import { stat } from 'node:fs/promises';
import { Fingerprint, fingerprintFile, fingerprintValues } from '../checkpoint/index.js';
import { InputError } from '../errors.js';
import { countJsonl, parseJsonlLine, readJsonlBlocks, readJsonlByteBlocks, visitJsonl } from './jsonl.js';

export type PipelineInput<T> = readonly T[] | Iterable<T> | AsyncIterable<T> | string;

/** Consecutive input items; `item(k)` gives the k-th (a file line is parsed only when asked). */
export interface InputBatch<T> {
  readonly length: number;
  item(k: number): T;
  /** A file line's bytes, neither decoded nor parsed (file input read as bytes): for worker threads. */
  bytes?(k: number): Buffer;
}

export interface OpenedInput<T> {
  fingerprint: string;
  /** Item count, when known before the run (arrays and files). */
  total: number | undefined;
  /** The items in order, streamed, in batches. */
  batches: AsyncIterable<InputBatch<T>>;
  /** What the input is, for messages: the file path, or `array`, `iterable`. */
  label: string;
}

/** Items of an iterable that identify it: its first ones (the rest cannot be known up front). */
const ITERABLE_PREFIX = 1000;
/** Items per batch of an array or a synchronous iterable. */
const BATCH = 1024;

function slice<T>(items: readonly T[], from: number, to: number): InputBatch<T> {
  return { length: to - from, item: (k) => items[from + k]! };
}

async function* fromArray<T>(items: readonly T[]): AsyncGenerator<InputBatch<T>> {
  for (let from = 0; from < items.length; from += BATCH) {
    yield slice(items, from, Math.min(items.length, from + BATCH));
  }
}

async function* fromSync<T>(head: T[], rest: Iterator<T>): AsyncGenerator<InputBatch<T>> {
  yield* fromArray(head);
  for (let done = false; !done; ) {
    const batch: T[] = [];
    let failure: { error: unknown } | undefined;
    try {
      for (let next = rest.next(); ; next = rest.next()) {
        if (next.done) {
          done = true;
          break;
        }
        batch.push(next.value);
        if (batch.length >= BATCH) break;
      }
    } catch (error) {
      failure = { error };
    }
    // The items read before an iterator threw still run; the error comes after them.
    if (batch.length > 0) yield slice(batch, 0, batch.length);
    if (failure) throw failure.error;
  }
}

async function* fromAsync<T>(head: T[], rest: AsyncIterator<T>): AsyncGenerator<InputBatch<T>> {
  yield* fromArray(head);
  for (let next = await rest.next(); !next.done; next = await rest.next()) yield slice([next.value], 0, 1);
}

async function* fromFile<T>(path: string): AsyncGenerator<InputBatch<T>> {
  for await (const { lines, texts } of readJsonlBlocks(path)) {
    yield { length: texts.length, item: (k) => parseJsonlLine(path, lines[k]!, texts[k]!) as T };
  }
}

async function* fromFileBytes<T>(path: string): AsyncGenerator<InputBatch<T>> {
  for await (const { buf, lines, starts, ends } of readJsonlByteBlocks(path)) {
    yield {
      length: lines.length,
      item: (k) => parseJsonlLine(path, lines[k]!, buf.toString('utf8', starts[k], ends[k])) as T,
      bytes: (k) => buf.subarray(starts[k], ends[k]),
    };
  }
}

/** The first items of an iterable, which identify it (the rest cannot be known up front). */
async function readPrefix<T>(
  next: () => IteratorResult<T> | Promise<IteratorResult<T>>,
): Promise<{ head: T[]; fingerprint: string }> {
  const head: T[] = [];
  const fingerprint = new Fingerprint();
  for (let item = await next(); !item.done; item = await next()) {
    head.push(item.value);
    fingerprint.update(item.value);
    if (head.length >= ITERABLE_PREFIX) break;
  }
  return { head, fingerprint: `prefix:${fingerprint.digest()}` };
}

/**
 * Opens `data`. A .jsonl path is read once up front to check every line (a bad line names the
 * file and line before anything runs) and to count and fingerprint it, then streamed again (with
 * `fileBytes`, its batches also give each line's bytes: for worker threads, which parse them).
 * With `visit`, that first read also hands each parsed item of a file to `visit` (a keyed run
 * takes its keys there; its plan then parses only the lines it hands out).
 */
export async function openInput<T>(
  data: PipelineInput<T>,
  options: { fileBytes?: boolean; visit?: (item: T, position: number) => void } = {},
): Promise<OpenedInput<T>> {
  if (typeof data === 'string') {
    const info = await stat(data).catch(() => undefined);
    if (!info?.isFile()) throw new InputError(`${data}: no such file`);
    const { visit } = options;
    const total = visit
      ? await visitJsonl(data, visit as (value: unknown, position: number) => void)
      : await countJsonl(data);
    const fingerprint = await fingerprintFile(data);
    const batches = options.fileBytes ? fromFileBytes<T>(data) : fromFile<T>(data);
    return { fingerprint, total, batches, label: data };
  }
  if (Array.isArray(data)) {
    const array = data as readonly T[];
    return {
      fingerprint: fingerprintValues(array),
      total: array.length,
      batches: fromArray([...array]),
      label: 'array',
    };
  }
  if (data && typeof (data as Iterable<T>)[Symbol.iterator] === 'function') {
    const iterator = (data as Iterable<T>)[Symbol.iterator]();
    const { head, fingerprint } = await readPrefix(() => iterator.next());
    return { fingerprint, total: undefined, batches: fromSync(head, iterator), label: 'iterable' };
  }
  if (data && typeof (data as AsyncIterable<T>)[Symbol.asyncIterator] === 'function') {
    const iterator = (data as AsyncIterable<T>)[Symbol.asyncIterator]();
    const { head, fingerprint } = await readPrefix(() => iterator.next());
    return { fingerprint, total: undefined, batches: fromAsync(head, iterator), label: 'async iterable' };
  }
  throw new InputError(
    `data: expected an array, an iterable, an async iterable or a .jsonl path, got ${data === null ? 'null' : typeof data}`,
  );
}
