/**
 * Reading .jsonl input line by line, streamed (never loaded whole), with the line number of every
 * record so a bad line can be named. (ndjson's parser does not report line numbers.)
 */
import { createReadStream } from 'node:fs';
import { InputError } from '../errors.js';

export interface JsonlLine {
  /** 1-based line number in the file. */
  line: number;
  value: unknown;
}

/** Yields each non-blank line's parsed value; a line that is not JSON throws InputError naming file and line. */
export async function* readJsonl(path: string): AsyncGenerator<JsonlLine> {
  const stream = createReadStream(path, { highWaterMark: 1 << 20, encoding: 'utf8' });
  let rest = '';
  let line = 0;
  try {
    for await (const block of stream as AsyncIterable<string>) {
      const text = rest + block;
      let start = 0;
      for (let end = text.indexOf('\n', start); end !== -1; end = text.indexOf('\n', start)) {
        line += 1;
        const record = parseLine(path, line, text.slice(start, end));
        if (record !== undefined) yield record;
        start = end + 1;
      }
      rest = text.slice(start);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new InputError(`${path}: no such file`);
    throw error;
  } finally {
    stream.destroy();
  }
  if (rest.length > 0) {
    const record = parseLine(path, line + 1, rest);
    if (record !== undefined) yield record;
  }
}

function parseLine(path: string, line: number, text: string): JsonlLine | undefined {
  const trimmed = text.endsWith('\r') ? text.slice(0, -1) : text;
  if (trimmed.trim() === '') return undefined;
  try {
    return { line, value: JSON.parse(trimmed) };
  } catch {
    const shown = trimmed.length > 60 ? `${trimmed.slice(0, 60)}…` : trimmed;
    throw new InputError(`${path}:${line}: not valid JSON: ${shown}`);
  }
}
