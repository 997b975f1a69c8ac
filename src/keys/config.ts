/**
 * config.json: one pure parse function, run on every load and reload. It reports every problem
 * with the file and the field path, warns about unknown fields, and never echoes a key.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { CONFIG_EXAMPLE, fieldLine, issueWords, syntaxProblem } from './config-words.js';
import { redactKey, scrubSecrets } from './redact.js';

/** One key of the pool, as keybatch uses it (camelCase of the file's snake_case fields). */
export interface KeyConfig {
  apiKey: string;
  organization?: string;
  baseUrl?: string;
  name?: string;
  /** Keys of one group share one rate budget. Default: the key alone. */
  group?: string;
  rpm?: number;
  tpm?: number;
  /** Models this key may serve; default: any. */
  models?: readonly string[];
}

export interface NotifySettings {
  lark?: string;
  slack?: string;
  webhook?: string;
  /** Seconds before the first repeat of a "no usable key" notification; doubles each time. */
  baseWaitTime?: number;
}

export interface PoolConfig {
  keyIndex: number;
  keys: readonly KeyConfig[];
  notify?: NotifySettings;
  /** config.json `prices`: USD per 1M tokens by model, over the bundled table. */
  prices?: Readonly<Record<string, { input: number; output: number; cached_input?: number | undefined }>>;
}

export interface ParsedConfig {
  config: PoolConfig;
  /** Unknown fields and other things worth a warning; each names the source and the field. */
  warnings: string[];
}

/** The config.json shape, as written in the file. */
export interface ConfigFile {
  key_index?: number;
  key_list: Array<{
    api_key: string;
    organization?: string;
    base_url?: string;
    name?: string;
    group?: string;
    rpm?: number;
    tpm?: number;
    models?: string[];
  }>;
  notify?: { lark?: string; slack?: string; webhook?: string; base_wait_time?: number };
  /** USD per 1M tokens by model name. */
  prices?: Record<string, { input: number; output: number; cached_input?: number }>;
}

const text = z.string().trim().min(1, 'must be a non-empty string');
const url = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });
const positive = z.number({ error: 'must be a number' }).positive('must be a number > 0');

const keySchema = z.looseObject({
  api_key: text,
  organization: text.optional(),
  base_url: url.optional(),
  name: text.optional(),
  group: text.optional(),
  rpm: positive.optional(),
  tpm: positive.optional(),
  models: z.array(text, { error: 'must be an array of model names' }).optional(),
});

const notifySchema = z.looseObject({
  lark: url.optional(),
  slack: url.optional(),
  webhook: url.optional(),
  base_wait_time: positive.optional(),
});

const usdPerMillion = z
  .number({ error: 'must be a number (USD per 1M tokens)' })
  .min(0, 'must be a number >= 0');
const priceSchema = z.strictObject(
  { input: usdPerMillion, output: usdPerMillion, cached_input: usdPerMillion.optional() },
  { error: 'must be { "input": USD per 1M, "output": USD per 1M, "cached_input"?: USD per 1M }' },
);

const configSchema = z.looseObject({
  key_index: z
    .number({ error: 'must be a whole number >= 0' })
    .int('must be a whole number >= 0')
    .min(0)
    .optional(),
  key_list: z
    .array(keySchema, { error: 'must be an array of keys ({ "api_key": "sk-…" })' })
    .min(1, 'must hold at least one key'),
  notify: notifySchema.optional(),
  prices: z.record(text, priceSchema, { error: 'must be an object of model names' }).optional(),
});

const KNOWN = {
  top: new Set(['key_index', 'key_list', 'notify', 'prices']),
  key: new Set(['api_key', 'organization', 'base_url', 'name', 'group', 'rpm', 'tpm', 'models']),
  notify: new Set(['lark', 'slack', 'webhook', 'base_wait_time']),
};

/** Field path as written in messages: `key_list[2].api_key`. */
function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || '(top level)';
}

/** A field name that looks like a secret: `sk-…`, or 20+ letters and digits mixing cases and digits. */
function looksLikeKey(name: string): boolean {
  if (/^(sk|pk|rk)-\S{8,}$/i.test(name)) return true;
  return /^[A-Za-z0-9.-]{20,}$/.test(name) && /\d/.test(name) && /[A-Z]/.test(name) && /[a-z]/.test(name);
}

function unknownFields(
  value: unknown,
  known: Set<string>,
  path: string,
  source: string,
  keys: readonly string[],
  out: string[],
): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return;
  for (const field of Object.keys(value)) {
    if (known.has(field)) continue;
    // A key pasted as a field name is shown redacted, like every key.
    const shown = looksLikeKey(field) ? redactKey(field) : scrubSecrets(field, keys);
    const near = nearest(field, known);
    const hint = near === undefined ? '' : `; did you mean ${near}?`;
    out.push(`${source}: unknown field ${path ? `${path}.` : ''}${shown} (ignored${hint})`);
  }
}

/** Problems shown in full: up to this many, on one line; past it the first ones and a count. */
const PROBLEMS_SHOWN = 5;

/** Every problem when there are few (one line, `; ` between them), else the first few and how many more. */
function problemsLine(problems: readonly string[]): string {
  const shown = problems.slice(0, PROBLEMS_SHOWN).join('; ');
  const more = problems.length - PROBLEMS_SHOWN;
  return more > 0 ? `${shown} (and ${more} more)` : shown;
}

/** The known field an unknown one is likely a typo of: at most 2 edits away (or differing in case, `-`/`_`). */
function nearest(field: string, known: ReadonlySet<string>): string | undefined {
  const plain = (name: string) => name.toLowerCase().replace(/-/g, '_');
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    const distance = plain(name) === plain(field) ? 0 : editDistance(plain(field), plain(name));
    if (distance <= 2 && distance < field.length && (!best || distance < best.distance))
      best = { name, distance };
  }
  return best?.name;
}

/** Levenshtein distance (insertions, deletions, substitutions), two rows. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + cost);
    }
    previous = row;
  }
  return previous[b.length]!;
}

/** Characters an HTTP header value can carry as a key or organization: visible ASCII. */
const HEADER_SAFE = /^[\x21-\x7e]*$/;

/** A character as `U+2026`. */
const codePoint = (char: string) => `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;

/** A key or organization a header cannot carry: `key_list[1].api_key (sk-…abcd) has a character …`. */
function headerProblems(raw: unknown, source: string): string[] {
  const list = (raw as { key_list?: unknown } | null)?.key_list;
  if (!Array.isArray(list)) return [];
  const problems: string[] = [];
  list.forEach((entry: unknown, i) => {
    if (entry === null || typeof entry !== 'object') return;
    const { api_key: apiKey, organization, name } = entry as Record<string, unknown>;
    if (typeof apiKey !== 'string') return;
    const key = apiKey.trim();
    // keybatch's own redacted form (`sk-…abcd`) holds nothing secret: shown as it is.
    const shown = key.length <= 8 && key.includes('…') ? key : redactKey(key);
    const label = printable(typeof name === 'string' && name.trim() ? name : shown);
    for (const [field, value] of [
      ['api_key', apiKey],
      ['organization', organization],
    ] as const) {
      if (typeof value !== 'string') continue;
      const text = value.trim();
      if (HEADER_SAFE.test(text)) continue;
      const at = [...text].findIndex((char) => !HEADER_SAFE.test(char));
      const char = [...text][at]!;
      const hint =
        char === '…'
          ? "paste the full key, not keybatch's redacted form"
          : 'keys and organizations are visible ASCII only (no spaces or line breaks)';
      problems.push(
        `${source}: key_list[${i}].${field} (${label}) has a character an HTTP header cannot carry (${codePoint(char)} at position ${at + 1}); ${hint}`,
      );
    }
  });
  return problems;
}

/** A label with anything unprintable shown as `\u…`, so a message stays one line. */
function printable(text: string): string {
  return text.replace(
    /[^\x20-\x7e\u00a0-\uffff]|[\u2028\u2029]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * Parses config.json text or an already parsed object. Throws one `ConfigError` listing every
 * problem (`config.json: key_list[1].rpm: must be a number > 0`); returns warnings for the rest.
 */
export function parseConfig(input: string | unknown, source = 'config'): ParsedConfig {
  let raw: unknown = input;
  if (typeof input === 'string') {
    if (input.trim() === '') throw new ConfigError(`${source}: the file is empty`);
    try {
      raw = JSON.parse(input.replace(/^\ufeff/, ''));
    } catch {
      throw new ConfigError(`${source}: not valid JSON: ${syntaxProblem(input.replace(/^\ufeff/, ''))}`);
    }
  }
  const result = configSchema.safeParse(raw);
  const problems = [
    ...(result.success
      ? []
      : result.error.issues.map((issue) => {
          // `config.json:3: key_list[0]: \`api_key\` is missing`: file, line and field.
          const line =
            typeof input === 'string' ? fieldLine(input.replace(/^\ufeff/, ''), issue.path) : undefined;
          const where = line === undefined ? source : `${source}:${line}`;
          return `${where}: ${formatPath(issue.path)}: ${issueWords(issue)}`;
        })),
    ...headerProblems(raw, source),
  ];
  if (!result.success || problems.length > 0) {
    throw new ConfigError(problemsLine(problems), { problems });
  }
  const data = result.data;
  const warnings: string[] = [];
  const secrets = data.key_list.map((key) => key.api_key);
  unknownFields(data, KNOWN.top, '', source, secrets, warnings);
  unknownFields(data.notify, KNOWN.notify, 'notify', source, secrets, warnings);
  data.key_list.forEach((key, i) => {
    unknownFields(key, KNOWN.key, `key_list[${i}]`, source, secrets, warnings);
  });

  const seen = new Map<string, number>();
  const keys = data.key_list.map((entry, i): KeyConfig => {
    const first = seen.get(entry.api_key);
    if (first !== undefined) {
      warnings.push(
        `${source}: key_list[${i}] repeats the key of key_list[${first}] (${redactKey(entry.api_key, entry.name)})`,
      );
    } else seen.set(entry.api_key, i);
    const key: KeyConfig = { apiKey: entry.api_key };
    if (entry.organization !== undefined) key.organization = entry.organization;
    if (entry.base_url !== undefined) key.baseUrl = entry.base_url.replace(/\/+$/, '');
    if (entry.name !== undefined) key.name = entry.name;
    if (entry.group !== undefined) key.group = entry.group;
    if (entry.rpm !== undefined) key.rpm = entry.rpm;
    if (entry.tpm !== undefined) key.tpm = entry.tpm;
    if (entry.models !== undefined) key.models = Object.freeze([...entry.models]);
    return Object.freeze(key);
  });

  let keyIndex = data.key_index ?? 0;
  if (keyIndex >= keys.length) {
    warnings.push(
      `${source}: key_index ${keyIndex} is past the end of key_list (${keys.length} keys); using ${keyIndex % keys.length}`,
    );
    keyIndex %= keys.length;
  }
  const config: PoolConfig = { keyIndex, keys: Object.freeze(keys) };
  if (data.notify) {
    const notify: NotifySettings = {};
    if (data.notify.lark !== undefined) notify.lark = data.notify.lark;
    if (data.notify.slack !== undefined) notify.slack = data.notify.slack;
    if (data.notify.webhook !== undefined) notify.webhook = data.notify.webhook;
    if (data.notify.base_wait_time !== undefined) notify.baseWaitTime = data.notify.base_wait_time;
    config.notify = Object.freeze(notify);
  }
  if (data.prices) config.prices = Object.freeze({ ...data.prices });
  return { config: Object.freeze(config), warnings };
}

/** Reads and parses a config file; a missing file is `CONFIG_MISSING`. */
export async function loadConfigFile(path: string): Promise<ParsedConfig> {
  let source: string;
  try {
    source = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ConfigError(`${path}: no such file`, { code: 'CONFIG_MISSING' });
    throw new ConfigError(`${path}: cannot be read (${code ?? String(error)})`);
  }
  return parseConfig(source, path);
}

export interface ResolvedSource {
  /** The file to load and watch, if the pool comes from a file. */
  path?: string;
  /** The config, when it did not come from a file. */
  parsed?: ParsedConfig;
}

/**
 * Where the pool comes from: an explicit path or object; else `KEYBATCH_CONFIG`; else
 * `./config.json` if it exists; else a one-key pool from `OPENAI_API_KEY` (+ `OPENAI_BASE_URL`).
 */
export async function resolveConfigSource(
  config: string | ConfigFile | undefined,
  env: NodeJS.ProcessEnv = process.env,
  exists: (path: string) => Promise<boolean>,
): Promise<ResolvedSource> {
  if (typeof config === 'string') return { path: config };
  if (config !== undefined) return { parsed: parseConfig(config, 'config') };
  if (env['KEYBATCH_CONFIG']) return { path: env['KEYBATCH_CONFIG'] };
  if (await exists('config.json')) return { path: 'config.json' };
  const apiKey = env['OPENAI_API_KEY'];
  if (apiKey) {
    const key: ConfigFile['key_list'][number] = { api_key: apiKey };
    if (env['OPENAI_BASE_URL']) key.base_url = env['OPENAI_BASE_URL'];
    return { parsed: parseConfig({ key_list: [key] }, 'OPENAI_API_KEY') };
  }
  throw new ConfigError(
    `no key pool: ./config.json does not exist and OPENAI_API_KEY is not set; write a config.json like ${CONFIG_EXAMPLE} (or pass -c FILE)`,
    { code: 'CONFIG_MISSING' },
  );
}
