/**
 * Reading .jsonl input line by line, streamed (never loaded whole), with the line number of every
 * record so a bad line can be named. (ndjson's parser does not report line numbers.)
 *
 * The file is read in blocks of lines, not parsed yet: one await per block rather than per line,
 * and a reader that skips lines (a resumed run) never parses them.
 */
import { createReadStream } from 'node:fs';
import { InputError } from '../errors.js';

export interface JsonlLine {
  /** 1-based line number in the file. */
  line: number;
  value: unknown;
}

/** The non-blank lines of one read block, in order, as text (parse each with `parseJsonlLine`). */
export interface JsonlBlock {
  /** 1-based line numbers, one per text. */
  lines: number[];
  texts: string[];
}

const BLOCK_BYTES = 1 << 20;

/**
 * The longest line read: 128 MiB. A line must become one string to be parsed, and V8 refuses
 * strings past 2^29 - 24 characters (512 Mi) with a raw "Invalid string length"; a request body
 * of this size is already far past what an API accepts (OpenAI takes at most 100 MB per request
 * file, and far less per request), so a longer line is bad input, said as such.
 */
export const MAX_LINE_BYTES = 128 * 2 ** 20;

/**
 * The deepest nesting of a record: 1,000 levels. Serialising a value (JSON.stringify, the
 * structured clone to a worker thread) recurses once per level and overflows V8's default stack
 * between 2,000 and 5,000 levels; no request body nests past a few dozen.
 */
export const MAX_DEPTH = 1000;

function tooLong(path: string, line: number): InputError {
  return new InputError(
    `${path}:${line}: a line longer than ${MAX_LINE_BYTES / 2 ** 20} MiB; no API takes a request that large`,
  );
}

/** Whether `text` nests arrays/objects deeper than `MAX_DEPTH` (strings skipped). Only a long line can. */
export function nestsTooDeep(text: string): boolean {
  if (text.length <= 2 * MAX_DEPTH) return false;
  let depth = 0;
  let inString = false;
  for (let k = 0; k < text.length; k++) {
    const c = text.charCodeAt(k);
    if (inString) {
      if (c === 0x5c) k++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_DEPTH) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

function tooDeep(path: string, line: number): InputError {
  return new InputError(
    `${path}:${line}: JSON nested more than ${MAX_DEPTH} levels deep; a record is {"prompt": "..."} or {"messages": [...]}`,
  );
}

/** A UTF-8 byte order mark at the start of a file is skipped: as decoded in UTF-8, and in latin1. */
const BOM_UTF8 = '\ufeff';
const BOM_LATIN1 = '\u00ef\u00bb\u00bf';
const BOM_BYTES = Buffer.from([0xef, 0xbb, 0xbf]);

/** Whether a line holds nothing but whitespace (cheap for the usual line starting with `{`). */
function blank(text: string): boolean {
  const first = text.charCodeAt(0);
  if (first === 0x7b || first === 0x5b || first === 0x22) return false;
  return text.trim() === '';
}

/** As `blank`, for a line decoded as latin1: only ASCII whitespace counts (U+00A0 may be half a UTF-8 character). */
function blankLatin1(text: string): boolean {
  return blank(text) && !text.includes('\u00a0');
}

/**
 * Yields the file's non-blank lines, a block at a time (about 1 MiB of the file per block).
 * `latin1` decodes one byte per character (for `countJsonl`); a line that may be blank in UTF-8
 * though not in latin1 is kept, for the caller to look at again.
 */
export async function* readJsonlBlocks(
  path: string,
  encoding: 'utf8' | 'latin1' = 'utf8',
  blockBytes = BLOCK_BYTES,
): AsyncGenerator<JsonlBlock> {
  const isBlank = encoding === 'utf8' ? blank : blankLatin1;
  const bom = encoding === 'utf8' ? BOM_UTF8 : BOM_LATIN1;
  const stream = createReadStream(path, { highWaterMark: blockBytes, encoding });
  let rest = '';
  // Reads with no line end yet, joined once one comes (joining every read would be quadratic).
  let held: string[] = [];
  let heldLength = 0;
  let line = 0;
  let first = true;
  try {
    for await (const chunk of stream as AsyncIterable<string>) {
      if (!first && chunk.indexOf('\n') === -1) {
        heldLength += chunk.length;
        if (rest.length + heldLength > MAX_LINE_BYTES) throw tooLong(path, line + 1);
        held.push(chunk);
        continue;
      }
      let text = rest + held.join('') + chunk;
      held = [];
      heldLength = 0;
      if (first && (text.length >= bom.length || !bom.startsWith(text))) {
        if (text.startsWith(bom)) text = text.slice(bom.length);
        first = false;
      }
      const block: JsonlBlock = { lines: [], texts: [] };
      let start = 0;
      for (let end = text.indexOf('\n', start); end !== -1; end = text.indexOf('\n', start)) {
        line += 1;
        const lineText =
          text.charCodeAt(end - 1) === 0x0d ? text.slice(start, end - 1) : text.slice(start, end);
        if (!isBlank(lineText)) {
          block.lines.push(line);
          block.texts.push(lineText);
        }
        start = end + 1;
      }
      rest = text.slice(start);
      if (rest.length > MAX_LINE_BYTES) throw tooLong(path, line + 1);
      if (block.texts.length > 0) yield block;
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new InputError(`${path}: no such file`);
    throw error;
  } finally {
    stream.destroy();
  }
  rest += held.join('');
  if (first && rest.startsWith(bom)) rest = rest.slice(bom.length);
  const last = rest.endsWith('\r') ? rest.slice(0, -1) : rest;
  if (last.length > 0 && !isBlank(last)) yield { lines: [line + 1], texts: [last] };
}

/** The non-blank lines of one read block as bytes: line k is `buf[starts[k], ends[k])`, not decoded. */
export interface JsonlByteBlock {
  buf: Buffer;
  /** 1-based line numbers. */
  lines: number[];
  starts: number[];
  ends: number[];
}

const NEWLINE = 0x0a;
const RETURN = 0x0d;

/** As `blank`, for a line's bytes: a line starting with `{`, `[` or `"` is decoded only if it must be. */
function blankBytes(buf: Buffer, start: number, end: number): boolean {
  if (start === end) return true;
  const first = buf[start];
  if (first === 0x7b || first === 0x5b || first === 0x22) return false;
  return blank(buf.toString('utf8', start, end));
}

/**
 * As `readJsonlBlocks`, with the lines left as bytes: for worker threads, which decode and parse
 * them themselves, so the main thread neither decodes nor parses a line it hands on.
 */
export async function* readJsonlByteBlocks(
  path: string,
  blockBytes = BLOCK_BYTES,
): AsyncGenerator<JsonlByteBlock> {
  const stream = createReadStream(path, { highWaterMark: blockBytes });
  // Reads of a line with no end yet, joined once it comes (joining every read would be quadratic).
  let held: Buffer[] = [];
  let heldBytes = 0;
  let line = 0;
  let first = true;
  const cut = (buf: Buffer, start: number, end: number, block: JsonlByteBlock) => {
    line += 1;
    const stop = end > start && buf[end - 1] === RETURN ? end - 1 : end;
    if (blankBytes(buf, start, stop)) return;
    block.lines.push(line);
    block.starts.push(start);
    block.ends.push(stop);
  };
  try {
    for await (let chunk of stream as AsyncIterable<Buffer>) {
      if (first) {
        if (heldBytes + chunk.length < BOM_BYTES.length) {
          held.push(chunk);
          heldBytes += chunk.length;
          continue;
        }
        chunk = Buffer.concat([...held, chunk]);
        held = [];
        heldBytes = 0;
        if (chunk.subarray(0, BOM_BYTES.length).equals(BOM_BYTES)) chunk = chunk.subarray(BOM_BYTES.length);
        first = false;
      }
      let start = 0;
      let end = chunk.indexOf(NEWLINE);
      if (end === -1) {
        heldBytes += chunk.length;
        if (heldBytes > MAX_LINE_BYTES) throw tooLong(path, line + 1);
        held.push(chunk);
        continue;
      }
      if (held.length > 0) {
        // The line that spans reads gets a buffer of its own; the read itself is used in place.
        const joined = Buffer.concat([...held, chunk.subarray(0, end)]);
        held = [];
        heldBytes = 0;
        const spanning: JsonlByteBlock = { buf: joined, lines: [], starts: [], ends: [] };
        cut(joined, 0, joined.length, spanning);
        if (spanning.lines.length > 0) yield spanning;
        start = end + 1;
        end = chunk.indexOf(NEWLINE, start);
      }
      const block: JsonlByteBlock = { buf: chunk, lines: [], starts: [], ends: [] };
      for (; end !== -1; end = chunk.indexOf(NEWLINE, start)) {
        cut(chunk, start, end, block);
        start = end + 1;
      }
      // A copy: the rest must not keep the whole read alive.
      const rest = Buffer.from(chunk.subarray(start));
      held = rest.length > 0 ? [rest] : [];
      heldBytes = rest.length;
      if (block.lines.length > 0) yield block;
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new InputError(`${path}: no such file`);
    throw error;
  } finally {
    stream.destroy();
  }
  let rest = Buffer.concat(held);
  if (first && rest.subarray(0, BOM_BYTES.length).equals(BOM_BYTES)) rest = rest.subarray(BOM_BYTES.length);
  if (rest.length > 0) {
    const block: JsonlByteBlock = { buf: rest, lines: [], starts: [], ends: [] };
    cut(rest, 0, rest.length, block);
    if (block.lines.length > 0) yield block;
  }
}

/** What a record looks like, for a line that is not JSON at all. */
export const RECORD_HINT = 'a record looks like {"prompt": "..."} or {"messages": [...]}';

/**
 * Parses one line's text; a line that is not JSON throws InputError naming file and line. A line
 * that does not even start like JSON (plain text) is told what a record looks like.
 */
export function parseJsonlLine(path: string, line: number, text: string): unknown {
  if (nestsTooDeep(text)) throw tooDeep(path, line);
  try {
    return JSON.parse(text);
  } catch {
    const shown = text.length > 60 ? `${text.slice(0, 60)}…` : text;
    if (!/^\s*[[{"]/.test(text)) {
      throw new InputError(`${path}:${line}: not JSON; ${RECORD_HINT}: ${shown}`);
    }
    throw new InputError(`${path}:${line}: not valid JSON: ${shown}`);
  }
}

/**
 * Checks that every non-blank line is JSON and counts them, keeping nothing; throws as `readJsonl`
 * would at the first bad line. The file is decoded as latin1, much cheaper than UTF-8: JSON's
 * structure is ASCII and any other byte is only valid inside a string, so a line parses as latin1
 * exactly when it parses as UTF-8. A line that fails is decoded again as UTF-8 before it is judged
 * (it may be blank there, e.g. non-breaking spaces), so counts and errors match `readJsonl`.
 */
export async function countJsonl(path: string): Promise<number> {
  let count = 0;
  for await (const { lines, texts } of readJsonlBlocks(path, 'latin1')) {
    for (let k = 0; k < texts.length; k++) {
      try {
        if (nestsTooDeep(texts[k]!)) throw tooDeep(path, lines[k]!);
        JSON.parse(texts[k]!);
      } catch (error) {
        if (error instanceof InputError) throw error;
        const text = Buffer.from(texts[k]!, 'latin1').toString('utf8');
        if (blank(text)) continue;
        parseJsonlLine(path, lines[k]!, text);
      }
      count += 1;
    }
  }
  return count;
}

/**
 * Checks, parses and counts every non-blank line as `countJsonl` does, calling `visit` with each
 * value and its 0-based position: for a reader that needs every item up front anyway (a keyed
 * run's keys), so no line is parsed twice. Throws as `readJsonl` would at the first bad line.
 */
export async function visitJsonl(
  path: string,
  visit: (value: unknown, position: number) => void,
): Promise<number> {
  let count = 0;
  for await (const { lines, texts } of readJsonlBlocks(path)) {
    for (let k = 0; k < texts.length; k++) visit(parseJsonlLine(path, lines[k]!, texts[k]!), count++);
  }
  return count;
}

/** Yields each non-blank line's parsed value; a line that is not JSON throws InputError naming file and line. */
export async function* readJsonl(path: string): AsyncGenerator<JsonlLine> {
  for await (const { lines, texts } of readJsonlBlocks(path)) {
    for (let k = 0; k < texts.length; k++) {
      const line = lines[k]!;
      yield { line, value: parseJsonlLine(path, line, texts[k]!) };
    }
  }
}
