/**
 * `keybatch run`'s request flags: `--param key=value` (repeatable, the value parsed as JSON when it
 * parses, else a string), `--params file.json` (an object), and how they combine with
 * `--temperature` / `--max-tokens`: the file first, then those two, then each `--param` (the last
 * one given wins).
 */
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError, Option } from 'commander';
import { InputError } from '../index.js';

/** One `--param key=value`: commander's collector (`[...previous, [key, value]]`). */
export function collectParam(
  text: string,
  previous: Array<[string, unknown]> = [],
): Array<[string, unknown]> {
  const at = text.indexOf('=');
  const key = at === -1 ? '' : text.slice(0, at).trim();
  if (key === '') {
    throw new InvalidArgumentError('Expected key=value, e.g. --param top_p=0.5 or --param \'stop=["\\n"]\'.');
  }
  const raw = text.slice(at + 1);
  let value: unknown = raw;
  try {
    value = JSON.parse(raw);
  } catch {
    // Not JSON: the text itself (`--param user=alice`).
  }
  return [...previous, [key, value]];
}

/** The object of a `--params` file; a file that is missing, not JSON or not an object is an InputError. */
export async function readParamsFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new InputError(`--params ${path}: ${code === 'ENOENT' ? 'no such file' : String(code)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text.replace(/^\ufeff/, ''));
  } catch (error) {
    throw new InputError(`--params ${path}: not valid JSON (${(error as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InputError(
      `--params ${path}: expected a JSON object of request parameters, e.g. {"top_p": 0.5}`,
    );
  }
  return value as Record<string, unknown>;
}

export interface RequestFlags {
  temperature?: number | undefined;
  maxTokens?: number | undefined;
  /** From `collectParam`. */
  param?: Array<[string, unknown]> | undefined;
}

/** The request parameters of a run: the file's, then --temperature/--max-tokens, then each --param. */
export function requestParams(
  file: Record<string, unknown> | undefined,
  flags: RequestFlags,
): Record<string, unknown> {
  const params: Record<string, unknown> = { ...file };
  if (flags.temperature !== undefined) params['temperature'] = flags.temperature;
  if (flags.maxTokens !== undefined) params['max_tokens'] = flags.maxTokens;
  for (const [key, value] of flags.param ?? []) params[key] = value;
  return params;
}

/** `--endpoint`: the API that prompt and messages records go to (run and estimate). */
export function endpointOption(): Option {
  return new Option('--endpoint <name>', 'API of prompt and messages records (default: chat)').choices([
    'chat',
    'responses',
    'completions',
    'embeddings',
  ]);
}
