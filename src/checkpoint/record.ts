/**
 * The lane-file line format, both ways.
 *
 *   success: {"i":123,"r":<result JSON>}
 *   failure: {"i":123,"e":{"name":…,"message":…,"code":…,"status":…}}
 *
 * `i` comes first so a reader takes it, and the kind, from a fixed prefix without parsing the rest.
 * A line that ends in '\n' was written whole (one record never contains a raw newline), so for it
 * the prefix and the final `}` are enough; only a last line without '\n', or one holding the start
 * of another record (`{"i":`, as a failed write followed by a retry leaves), gets a full JSON.parse.
 */

import { KeybatchError, type SerializedError } from '../errors.js';
import { finalErrorCode } from './final-error.js';

export const KIND_RESULT = 1;
export const KIND_ERROR = 2;
export type RecordKind = typeof KIND_RESULT | typeof KIND_ERROR;

/** What a lane writer accepts: `e` set means the item failed; otherwise `r` is its result. */
export interface LaneRecord {
  i: number;
  r?: unknown;
  e?: FailurePayload | undefined;
}

/**
 * A failure as saved: the error, and optionally the line the merged output shows for the item
 * (e.g. a prompt row with `error`); without it the output shows `{"error":{code,message,status}}`.
 */
export type FailurePayload = SerializedError & { output?: unknown };

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const QUOTE = 0x22;
const COLON = 0x3a;
const COMMA = 0x2c;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const LETTER_I = 0x69;
const LETTER_R = 0x72;
const LETTER_E = 0x65;
/** 10 digits hold every index up to MAX_INDEX. */
const MAX_INDEX_DIGITS = 10;
/** The largest item index a checkpoint holds (the done-set is a bitset indexed by it). */
export const MAX_INDEX = 0xffff_ffff;

/** Where the parts of one parsed line are; reused for every line so parsing allocates nothing. */
export class ParsedLine {
  kind: RecordKind = KIND_RESULT;
  i = 0;
  /** The value (`r`'s JSON, or `e`'s object) is `buf[valueStart, valueEnd)`. */
  valueStart = 0;
  valueEnd = 0;
  /** Set for failures only. */
  error: SerializedError | undefined;
  /** Why the last `parse` refused the line. */
  problem = '';

  /**
   * Reads `buf[start, end)` (without its '\n'). `terminated`: the line ended in '\n', so it was
   * written whole; otherwise the whole line must also be complete JSON.
   */
  parse(buf: Uint8Array, start: number, end: number, terminated: boolean): boolean {
    this.error = undefined;
    if (
      end - start < 9 ||
      buf[start] !== OPEN_BRACE ||
      buf[start + 1] !== QUOTE ||
      buf[start + 2] !== LETTER_I ||
      buf[start + 3] !== QUOTE ||
      buf[start + 4] !== COLON
    ) {
      return this.refuse('does not start with {"i":');
    }
    let p = start + 5;
    let i = 0;
    const digitsStart = p;
    while (p < end) {
      const c = buf[p]!;
      if (c < DIGIT_0 || c > DIGIT_9) break;
      i = i * 10 + (c - DIGIT_0);
      p++;
    }
    if (p === digitsStart || p - digitsStart > MAX_INDEX_DIGITS || i > MAX_INDEX) {
      return this.refuse('has no valid index "i"');
    }
    if (buf[p] !== COMMA || buf[p + 1] !== QUOTE || buf[p + 3] !== QUOTE || buf[p + 4] !== COLON) {
      return this.refuse('has no "r" or "e" after "i"');
    }
    const key = buf[p + 2];
    if (key === LETTER_R) this.kind = KIND_RESULT;
    else if (key === LETTER_E) this.kind = KIND_ERROR;
    else return this.refuse('has no "r" or "e" after "i"');
    this.i = i;
    this.valueStart = p + 5;
    this.valueEnd = end - 1;
    if (this.valueEnd <= this.valueStart || buf[end - 1] !== CLOSE_BRACE) return this.refuse('is cut short');
    if (!terminated && !isCompleteJson(buf, start, end)) return this.refuse('is cut short');
    // A write cut short, then another record after it on the same line: only a full parse tells
    // such a line from a result that merely holds an object starting with "i".
    if (terminated && holdsRecordStart(buf, this.valueStart, end) && !isCompleteJson(buf, start, end)) {
      return this.refuse('holds a record cut short followed by another');
    }
    if (this.kind === KIND_ERROR) {
      const error = parseErrorPayload(buf, this.valueStart, this.valueEnd);
      if (!error) return this.refuse('has an "e" that is not an error object');
      this.error = error;
    }
    return true;
  }

  private refuse(problem: string): false {
    this.problem = problem;
    return false;
  }
}

/** Whether `{"i":` occurs in `buf[from, end)`. Every line starts with `{`, so no search passes the next line. */
function holdsRecordStart(buf: Uint8Array, from: number, end: number): boolean {
  const bytes = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  for (
    let p = bytes.indexOf(OPEN_BRACE, from);
    p !== -1 && p + 4 < end;
    p = bytes.indexOf(OPEN_BRACE, p + 1)
  ) {
    if (
      bytes[p + 1] === QUOTE &&
      bytes[p + 2] === LETTER_I &&
      bytes[p + 3] === QUOTE &&
      bytes[p + 4] === COLON
    ) {
      return true;
    }
  }
  return false;
}

function isCompleteJson(buf: Uint8Array, start: number, end: number): boolean {
  try {
    JSON.parse(Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

/** Reads an `e` payload back into a SerializedError; undefined if it is not an error object. */
export function parseErrorPayload(buf: Uint8Array, start: number, end: number): FailurePayload | undefined {
  let data: unknown;
  try {
    data = JSON.parse(Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return undefined;
  const d = data as Record<string, unknown>;
  const out: FailurePayload = {
    name: typeof d['name'] === 'string' ? d['name'] : 'Error',
    message: typeof d['message'] === 'string' ? d['message'] : '',
  };
  if (typeof d['code'] === 'string' || d['code'] === null) out.code = d['code'];
  if (typeof d['status'] === 'number') out.status = d['status'];
  if (typeof d['type'] === 'string' || d['type'] === null) out.type = d['type'];
  if (d['output'] !== undefined) out.output = d['output'];
  return out;
}

/** One line (with its '\n') per record. Throws TASK_INVALID, naming the item, for a result JSON cannot hold. */
export function serializeRecord(record: LaneRecord): string {
  const { i } = record;
  if (!Number.isInteger(i) || i < 0 || i > MAX_INDEX) {
    throw new RangeError(
      `Checkpoint record index must be an integer from 0 to ${MAX_INDEX}, got ${String(i)}`,
    );
  }
  if (record.e !== undefined) return `{"i":${i},"e":${JSON.stringify(errorPayload(record.e))}}\n`;
  let value: string | undefined;
  try {
    value = JSON.stringify(record.r);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new KeybatchError('TASK_INVALID', `The result for item ${i} cannot be saved as JSON: ${reason}`, {
      cause,
    });
  }
  // JSON has no `undefined` (nor functions or symbols at the top level): they are saved as null.
  return `{"i":${i},"r":${value ?? 'null'}}\n`;
}

/** What a failure keeps: no stack (long, and full of local paths). */
function errorPayload(e: FailurePayload): FailurePayload {
  const out: FailurePayload = { name: String(e.name), message: String(e.message) };
  if (e.code !== undefined) out.code = e.code;
  if (e.status !== undefined) out.status = e.status;
  if (e.type !== undefined) out.type = e.type;
  if (e.output !== undefined) out.output = e.output;
  return out;
}

/** A chunk's results as lane-file lines, made where the task ran (a worker thread) and written as they are. */
export interface EncodedResults {
  /** UTF-8 lines, one per result, in `serializeRecord`'s format. */
  bytes: Uint8Array;
  /** The error codes of the results that are final failures (`finalErrorCode`), in order. */
  refused: string[];
}

/** Encodes the results of the items at `indices`; throws TASK_INVALID as `serializeRecord` does. */
export function encodeResults(indices: ArrayLike<number>, results: readonly unknown[]): EncodedResults {
  let text = '';
  const refused: string[] = [];
  for (let k = 0; k < results.length; k++) {
    const r = results[k];
    text += serializeRecord({ i: indices[k]!, r });
    const code = finalErrorCode(r);
    if (code !== undefined) refused.push(code);
  }
  return { bytes: new TextEncoder().encode(text), refused };
}
