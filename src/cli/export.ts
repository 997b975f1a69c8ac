/**
 * `keybatch export <output.jsonl> --csv [-o file.csv]`: the `parsed` objects of a run's output as
 * CSV (csv-stringify, RFC 4180): one row per output line, in order; columns `id`, one per
 * top-level property of `parsed` (the schema's order from the checkpoint, then any other property
 * in order of first appearance; nested values as JSON), and `error` (the failure code, empty on
 * success). A property called `id` or `error` is `parsed.id` / `parsed.error`. The file is read
 * twice (columns, then rows), line by line, never held whole; `-o` is written to a temporary
 * name and renamed into place.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { finished } from 'node:stream/promises';
import { stringify } from 'csv-stringify';
import { InputError } from '../index.js';
import { finalErrorCode, readManifest } from '../internal.js';
import { EXIT } from './errors.js';

export interface ExportFlags {
  csv?: boolean;
  format?: 'csv';
  output?: string;
}

type Json = Record<string, unknown>;
const isRecord = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Our own columns; a property of the same name gets a `parsed.` prefix. */
const OWN = new Set(['id', 'error']);
const column = (property: string) => (OWN.has(property) ? `parsed.${property}` : property);

async function* lines(path: string): AsyncGenerator<{ line: number; row: Json }> {
  const input = createReadStream(path);
  const opened = new Promise<void>((resolve, reject) => {
    input.once('open', () => resolve());
    input.once('error', reject);
  });
  await opened.catch((error: NodeJS.ErrnoException) => {
    throw new InputError(`${path}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`);
  });
  let n = 0;
  for await (const text of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
    n += 1;
    if (text.trim() === '') continue;
    let row: unknown;
    try {
      row = JSON.parse(text);
    } catch (error) {
      throw new InputError(`${path}:${n}: not a JSON line (${(error as Error).message})`);
    }
    if (!isRecord(row)) throw new InputError(`${path}:${n}: not a JSON object`);
    yield { line: n, row };
  }
}

/** The schema's properties, in order, from the run's checkpoint (none without one). */
async function schemaProperties(output: string): Promise<string[]> {
  const manifest = await readManifest(join(`${output}.keybatch`, 'manifest.json')).catch(() => undefined);
  const schema = manifest?.options['schema'];
  const properties = isRecord(schema) && isRecord(schema['json']) ? schema['json']['properties'] : undefined;
  return isRecord(properties) ? Object.keys(properties) : [];
}

/** The properties of every `parsed` object, the schema's first. */
async function properties(output: string): Promise<string[]> {
  const seen = new Set(await schemaProperties(output));
  for await (const { row } of lines(output)) {
    if (isRecord(row['parsed'])) for (const key of Object.keys(row['parsed'])) seen.add(key);
  }
  return [...seen];
}

/** A cell: strings as they are, nested values (and numbers, booleans) as JSON, nothing as empty. */
function cell(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** The id of an output line: `custom_id` of a Batch API line, else `id`. */
function idOf(row: Json): unknown {
  return 'custom_id' in row ? row['custom_id'] : row['id'];
}

export async function exportCommand(output: string, flags: ExportFlags = {}): Promise<number> {
  if (output === '-') throw new InputError('keybatch export needs the output file of a run, not -');
  const names = await properties(output);
  const header = ['id', ...names.map(column), 'error'];
  const temp = flags.output === undefined ? undefined : `${flags.output}.tmp-${process.pid}`;
  const sink = temp === undefined ? process.stdout : createWriteStream(temp);
  const csv = stringify({ header: true, columns: header, record_delimiter: 'windows' });
  csv.pipe(sink, { end: temp !== undefined });
  try {
    for await (const { row } of lines(output)) {
      const parsed = isRecord(row['parsed']) ? row['parsed'] : {};
      const record = [cell(idOf(row)), ...names.map((name) => cell(parsed[name])), finalErrorCode(row) ?? ''];
      if (!csv.write(record)) await new Promise((resolve) => csv.once('drain', resolve));
    }
    csv.end();
    await finished(csv);
    if (temp !== undefined && flags.output !== undefined) {
      await finished(sink);
      await rename(temp, flags.output);
    }
  } catch (error) {
    csv.destroy();
    if (temp !== undefined) await rm(temp, { force: true });
    throw error;
  }
  return EXIT.ok;
}
