/**
 * `--schema <file.json>`: a JSON Schema file, read and checked before anything is sent. A file
 * that is missing, not JSON or not a valid JSON Schema is one InputError line naming the file and
 * the problem (exit 2). The schema is named by its `title`, else by the file's name.
 */
import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { InputError, jsonSchema } from '../index.js';

export async function readSchemaFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new InputError(`--schema ${path}: ${code === 'ENOENT' ? 'no such file' : String(code)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text.replace(/^\ufeff/, ''));
  } catch (error) {
    throw new InputError(`--schema ${path}: not valid JSON (${(error as Error).message})`);
  }
  // Throws `<path>: not a valid JSON Schema: …`.
  const schema = jsonSchema(value, `--schema ${path}`, basename(path, extname(path)));
  return { name: schema.name, schema: schema.json };
}
