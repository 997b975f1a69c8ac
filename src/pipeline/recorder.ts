/**
 * What a run records of each chunk: its lane-file lines (one lane writer per lane, opened on first
 * use), the results kept in memory when there is no output file, and the counts of done and failed
 * items, failed items by error code, and the first failures.
 */
import type { EncodedResults, LaneWriter, RunDir } from '../checkpoint/index.js';
import { finalErrorCode } from '../checkpoint/index.js';
import { type SerializedError, serializeError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Chunk } from './planner.js';

const MAX_FAILURES_LISTED = 100;

export interface RecorderOptions<T> {
  /** The run directory, once open (undefined: nothing is checkpointed). */
  runDir: () => RunDir | undefined;
  /** Results go to an output file: none are kept in memory. */
  toFile: boolean;
  failureOutput: ((item: T, error: SerializedError) => unknown) | undefined;
  scrub: (text: string) => string;
  logger: Logger;
  /**
   * A content-keyed run: how many more input positions share an index's answer (duplicates), and
   * a call once an index has its result (a duplicate read after it counts as answered).
   */
  shared?: { extra(index: number): number; recorded(index: number): void };
}

export class Recorder<T, R> {
  readonly counts = { done: 0, failed: 0 };
  /** The first failed chunks' items (up to 100), by input position, with the error. */
  readonly failures: Array<{ index: number; error: SerializedError }> = [];
  /** Failed items by error code. */
  readonly errors: Record<string, number> = {};
  readonly #writers = new Map<number, LaneWriter>();

  /** `results` is filled in place (input positions) when results are kept in memory. */
  constructor(
    private readonly options: RecorderOptions<T>,
    private readonly results: R[],
  ) {}

  /** A chunk's results. A result carrying `error` is a final failure: kept as it is, counted as failed. */
  record(lane: number, chunk: Chunk<T>, results: R[]): void {
    this.#writer(lane)?.append(chunk.indices.map((i, k) => ({ i, r: results[k] })));
    const refused: string[] = [];
    for (const result of results) {
      const code = finalErrorCode(result);
      if (code !== undefined) refused.push(code);
    }
    if (!this.options.toFile) {
      chunk.indices.forEach((i, k) => {
        this.results[i] = results[k]!;
      });
    }
    this.#count(chunk, refused);
  }

  /** A chunk whose results a worker thread encoded as lane-file lines: written as they came. */
  recordEncoded(lane: number, chunk: Chunk<T>, encoded: EncodedResults): void {
    this.#writer(lane)?.appendEncoded(encoded.bytes);
    this.#count(chunk, encoded.refused);
  }

  /**
   * One item whose task failed for good (a request the API refused as sent, e.g. a 400): a final
   * failure row, `{ id?, error }` (or the run's failure line), that a rerun keeps.
   */
  recordFinal(lane: number, chunk: Chunk<T>, error: unknown): void {
    const data = this.#errorData(error);
    const { status, code, message } = data;
    const rows = this.#items(chunk).map((item) => {
      if (this.options.failureOutput) return this.options.failureOutput(item, data);
      const id = idOf(item);
      return {
        ...(id === undefined ? {} : { id }),
        error: { status: status ?? null, code: code ?? null, message },
      };
    });
    this.record(lane, chunk, rows as R[]);
    this.#noteFailures(chunk, data);
    this.options.logger.warn(`item ${chunk.indices[0]} failed for good (a rerun keeps it): ${data.message}`);
  }

  /** A chunk that failed after `attempts` attempts: its items are recorded with the error (a rerun retries them). */
  recordFailure(lane: number, chunk: Chunk<T>, error: unknown, attempts: number): void {
    const data = this.#errorData(error);
    const { failureOutput } = this.options;
    const items = this.#items(chunk);
    const outputs = failureOutput
      ? items.map((item) => failureOutput(item, data))
      : items.map((item) => {
          const id = idOf(item);
          return id === undefined ? undefined : { id, error: pick(data) };
        });
    this.#writer(lane)?.append(
      chunk.indices.map((i, k) => ({ i, e: outputs ? { ...data, output: outputs[k] } : data })),
    );
    if (failureOutput && !this.options.toFile) {
      chunk.indices.forEach((i, k) => {
        this.results[i] = outputs[k] as R;
      });
    }
    const weight = this.#weight(chunk);
    this.counts.failed += weight;
    const code = data.code ?? (data.status ? String(data.status) : data.name);
    this.errors[code] = (this.errors[code] ?? 0) + weight;
    this.#noteFailures(chunk, data);
    this.options.logger.warn(
      `chunk ${chunk.chunkIndex} (items ${chunk.indices[0]}..${chunk.indices.at(-1)}) failed after ${attempts} attempts: ${data.message}`,
    );
  }

  #errorData(error: unknown): SerializedError {
    const data = serializeError(error);
    data.message = this.options.scrub(data.message);
    delete data.stack;
    return data;
  }

  #items(chunk: Chunk<T>): T[] {
    return chunk.lines ? chunk.lines.map((line) => JSON.parse(line.toString('utf8')) as T) : chunk.items;
  }

  #noteFailures(chunk: Chunk<T>, data: SerializedError): void {
    for (const index of chunk.indices) {
      if (this.failures.length < MAX_FAILURES_LISTED) this.failures.push({ index, error: data });
    }
  }

  /** Closes every lane writer. */
  close(): void {
    for (const writer of this.#writers.values()) writer.close();
  }

  #writer(lane: number): LaneWriter | undefined {
    const runDir = this.options.runDir();
    if (!runDir) return undefined;
    let writer = this.#writers.get(lane);
    if (!writer) {
      writer = runDir.openLane(lane);
      this.#writers.set(lane, writer);
    }
    return writer;
  }

  #count(chunk: Chunk<T>, refused: readonly string[]): void {
    for (const code of refused) this.errors[code] = (this.errors[code] ?? 0) + 1;
    this.counts.failed += refused.length;
    this.counts.done += this.#weight(chunk) - refused.length;
    const shared = this.options.shared;
    if (shared) for (const i of chunk.indices) shared.recorded(i);
  }

  /** Input positions a chunk answers: its items, and in a content-keyed run their duplicates. */
  #weight(chunk: Chunk<T>): number {
    const shared = this.options.shared;
    let weight = chunk.indices.length;
    if (shared) for (const i of chunk.indices) weight += shared.extra(i);
    return weight;
  }
}

/** An item's own `id` (a string or number), if it is an object that has one. */
function idOf(item: unknown): string | number | undefined {
  if (item === null || typeof item !== 'object') return undefined;
  const id = (item as { id?: unknown }).id;
  return typeof id === 'string' || typeof id === 'number' ? id : undefined;
}

/** The error fields a failure row shows. */
function pick(data: SerializedError): { status: number | null; code: string | null; message: string } {
  return { status: data.status ?? null, code: data.code ?? null, message: data.message };
}
