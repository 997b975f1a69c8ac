/**
 * Looking at a key pool without running anything: `describeKeys` lists what config.json holds
 * (redacted), `probeKeys` asks each key one cheap question to see whether it works right now.
 * Each probe uses a plain `openai` client of its own (no pool, no retries), so one key's answer
 * never affects another's; the answer is classified like the pool would (`classifyStatus`).
 */
import { access } from 'node:fs/promises';
import { STATUS_CODES } from 'node:http';
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import pLimit from 'p-limit';
import { AbortError } from '../errors.js';
import { classifyStatus, type Outcome } from './classify.js';
import {
  type ConfigFile,
  type KeyConfig,
  loadConfigFile,
  type ParsedConfig,
  resolveConfigSource,
} from './config.js';
import { parseLimits } from './pacing/dialects.js';
import { type LearnedLimits, learnedLimits } from './pacing/learned.js';
import { DEFAULT_BASE_URL } from './pool-fetch.js';
import { redactKey, scrubSecrets } from './redact.js';
import { endpointFailure } from './unreachable.js';

/** One key of the pool as it may be shown: never the key itself. */
export interface KeyDescription {
  /** `name`, else `sk-…` + the last 4 characters. */
  key: string;
  group?: string;
  /** The base URL the key is used with (its `base_url`, else `OPENAI_BASE_URL`, else OpenAI's). */
  baseUrl: string;
  organization?: string;
  /** Models the key may serve; absent: any. */
  models?: string[];
  rpm?: number;
  tpm?: number;
}

export interface PoolDescription {
  /** Where the pool came from: the config file path, `OPENAI_API_KEY`, or `config` for an object. */
  source: string;
  keyIndex: number;
  keys: KeyDescription[];
  /** Unknown fields and the like, each naming the source and the field. */
  warnings: string[];
}

export interface DescribeOptions {
  /** Environment for `KEYBATCH_CONFIG`, `OPENAI_API_KEY`, `OPENAI_BASE_URL`. @default process.env */
  env?: NodeJS.ProcessEnv;
}

export interface ProbeOptions extends DescribeOptions {
  /** The model each key is asked for. @default 'gpt-4o-mini' */
  model?: string;
  /** Cancels every probe still waiting. */
  signal?: AbortSignal;
  /** Time limit of each probe, in milliseconds. @default 20000 */
  timeoutMs?: number;
}

/**
 * `unreachable`: the base URL did not answer as an API: no connection (refused, DNS, TLS) or a
 * 404 that is not about the model (e.g. a base_url without `/v1`: `Invalid URL`).
 */
export type ProbeOutcome = 'ok' | 'invalid' | 'quota' | 'denied' | 'rate_limited' | 'unreachable' | 'error';

export interface ProbeResult {
  /** The key, redacted. */
  key: string;
  /** The full base URL the key was tried at (base URLs are not secret). */
  baseUrl: string;
  result: ProbeOutcome;
  /** The HTTP status answered, if any. */
  status?: number;
  /** The status line's text (`Not Found`), with `status`. */
  statusText?: string;
  /**
   * The API's error code (`invalid_api_key`, `insufficient_quota`, …), or for no answer the
   * system's (`ECONNREFUSED`, `ENOTFOUND`, `DEPTH_ZERO_SELF_SIGNED_CERT`), if any.
   */
  code?: string;
  /**
   * What went wrong, with any key in it redacted: the server's own error message
   * (`Invalid URL (POST /chat/completions)`), or why there was no answer (`refused the connection (ECONNREFUSED)`).
   */
  message?: string;
  /** What the answer's rate-limit headers (any dialect) said of the key's limits, per minute / per day. */
  limits?: LearnedLimits;
}

export const PROBE_DEFAULTS = Object.freeze({ model: 'gpt-4o-mini', timeoutMs: 20_000 });

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

interface LoadedPool {
  source: string;
  parsed: ParsedConfig;
  defaultBaseUrl: string;
}

/** Resolves and parses the config exactly as `KeyPool.open` does (path, object, env, ./config.json). */
async function loadPool(
  config: string | ConfigFile | undefined,
  env: NodeJS.ProcessEnv,
): Promise<LoadedPool> {
  const source = await resolveConfigSource(config, env, exists);
  const parsed = source.parsed ?? (await loadConfigFile(source.path!));
  const from = source.path ?? (config === undefined ? 'OPENAI_API_KEY' : 'config');
  const defaultBaseUrl = (env['OPENAI_BASE_URL'] ?? DEFAULT_BASE_URL).replace(/\/+$/, '');
  return { source: from, parsed, defaultBaseUrl };
}

function describeKey(key: KeyConfig, defaultBaseUrl: string): KeyDescription {
  const out: KeyDescription = {
    key: redactKey(key.apiKey, key.name),
    baseUrl: key.baseUrl ?? defaultBaseUrl,
  };
  if (key.group !== undefined) out.group = key.group;
  if (key.organization !== undefined) out.organization = key.organization;
  if (key.models !== undefined) out.models = [...key.models];
  if (key.rpm !== undefined) out.rpm = key.rpm;
  if (key.tpm !== undefined) out.tpm = key.tpm;
  return out;
}

/**
 * The pool a config makes, redacted: each key's label, group, base URL, organization, models and
 * limits. An invalid config is refused with the `ConfigError` `KeyPool.open` would throw.
 */
export async function describeKeys(
  config?: string | ConfigFile,
  options: DescribeOptions = {},
): Promise<PoolDescription> {
  const { source, parsed, defaultBaseUrl } = await loadPool(config, options.env ?? process.env);
  return {
    source,
    keyIndex: parsed.config.keyIndex,
    keys: parsed.config.keys.map((key) => describeKey(key, defaultBaseUrl)),
    warnings: parsed.warnings,
  };
}

const RESULT_OF: Record<Outcome, ProbeOutcome> = {
  ok: 'ok',
  quota: 'quota',
  rate_limit: 'rate_limited',
  invalid: 'invalid',
  denied: 'denied',
  bad_request: 'error',
  retryable: 'error',
};

function apiErrorCode(error: APIError): { code?: string; type?: string } {
  const out: { code?: string; type?: string } = {};
  if (typeof error.code === 'string') out.code = error.code;
  if (typeof error.type === 'string') out.type = error.type;
  return out;
}

/** The server's own error message (`error.message` of the body), else the SDK's without its status prefix. */
function serverMessage(error: APIError): string {
  const body = error.error as { message?: unknown } | undefined;
  if (body && typeof body.message === 'string' && body.message.trim() !== '') return body.message.trim();
  return error.message.replace(/^\d{3}\s*/, '');
}

/** The first system error code (`ECONNREFUSED`, …) in an error's `cause` chain and AggregateErrors. */
function systemCode(error: unknown): string | undefined {
  const queue: unknown[] = [error];
  for (let seen = 0; queue.length > 0 && seen < 12; seen++) {
    const current = queue.shift();
    if (current === null || typeof current !== 'object') continue;
    const { code, cause, errors } = current as { code?: unknown; cause?: unknown; errors?: unknown };
    if (typeof code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(code)) return code;
    if (cause !== undefined) queue.push(cause);
    if (Array.isArray(errors)) queue.push(...errors);
  }
  return undefined;
}

/** One line, at most 300 characters. */
const oneLine = (text: string) => text.replace(/\s+/g, ' ').trim().slice(0, 300);

async function probeOne(
  key: KeyConfig,
  defaultBaseUrl: string,
  model: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<ProbeResult> {
  const label = redactKey(key.apiKey, key.name);
  const scrub = (text: string) => oneLine(scrubSecrets(text, [key.apiKey]));
  const baseUrl = (key.baseUrl ?? defaultBaseUrl).replace(/\/+$/, '');
  const client = new OpenAI({
    apiKey: key.apiKey,
    baseURL: baseUrl,
    organization: key.organization ?? null,
    project: null,
    maxRetries: 0,
    timeout: timeoutMs,
  });
  /** The limits a set of answer headers states, if it states any. */
  const learned = (headers: Headers | undefined): { limits?: LearnedLimits } => {
    const limits = headers ? learnedLimits(parseLimits(headers, Date.now())) : {};
    return Object.keys(limits).length > 0 ? { limits } : {};
  };
  try {
    const { response } = await client.chat.completions
      .create(
        { model, messages: [{ role: 'user', content: 'ping' }], max_tokens: 1 },
        signal ? { signal } : {},
      )
      .withResponse();
    return { key: label, baseUrl, result: 'ok', status: 200, statusText: 'OK', ...learned(response.headers) };
  } catch (error) {
    if (error instanceof APIUserAbortError || signal?.aborted) throw new AbortError();
    if (error instanceof APIError && typeof error.status === 'number') {
      const body = apiErrorCode(error);
      const outcome = classifyStatus(error.status, body);
      const result: ProbeResult = {
        key: label,
        baseUrl,
        // A 404 not about the model: the route is not there (a base_url without /v1 answers `Invalid URL`).
        result: error.status === 404 && outcome === 'bad_request' ? 'unreachable' : RESULT_OF[outcome],
        status: error.status,
      };
      const statusText = STATUS_CODES[error.status];
      if (statusText !== undefined) result.statusText = statusText;
      if (body.code !== undefined) result.code = body.code;
      result.message = scrub(serverMessage(error));
      return { ...result, ...learned(error.headers) };
    }
    const endpoint = endpointFailure(error);
    if (endpoint !== undefined) {
      const result: ProbeResult = { key: label, baseUrl, result: 'unreachable', message: scrub(endpoint) };
      const code = systemCode(error);
      if (code !== undefined) result.code = code;
      return result;
    }
    const kind =
      error instanceof APIConnectionTimeoutError
        ? 'timed out'
        : error instanceof APIConnectionError
          ? 'connection failed'
          : 'failed';
    // The causes' messages, outermost first: `fetch failed: bad port`.
    const causes: string[] = [];
    let cause = error instanceof Error ? error.cause : undefined;
    // At most 4 deep (a cause chain may loop).
    for (; cause instanceof Error && causes.length < 4; cause = cause.cause) causes.push(cause.message);
    const detail =
      causes.length > 0 ? causes.join(': ') : error instanceof Error ? error.message : String(error);
    return { key: label, baseUrl, result: 'error', message: scrub(`${kind}: ${detail}`) };
  }
}

/** Probes in flight at once. */
const PROBES_AT_ONCE = 8;

/**
 * Sends one cheap chat request (`max_tokens: 1`) per key of the pool, eight at a time, each with a
 * plain client for that key (its base URL and organization, no retries), and says what each
 * key's answer means: `ok`, `invalid`, `quota`, `denied` (no access to the model),
 * `rate_limited`, `unreachable` (no connection, TLS failing, or a 404 not about the model, as a
 * base_url without `/v1` answers), or `error` (anything else: a 400, a 5xx, a timeout). Each result
 * names the full base URL, the status and its text, and the server's message. Results are in
 * `key_list` order, redacted. An invalid config is refused with a `ConfigError`.
 */
export async function probeKeys(
  config?: string | ConfigFile,
  options: ProbeOptions = {},
): Promise<ProbeResult[]> {
  const model = options.model ?? PROBE_DEFAULTS.model;
  const timeoutMs = options.timeoutMs ?? PROBE_DEFAULTS.timeoutMs;
  const { parsed, defaultBaseUrl } = await loadPool(config, options.env ?? process.env);
  if (options.signal?.aborted) throw new AbortError();
  // A pool of hundreds of keys must not open hundreds of connections at once.
  const limit = pLimit(PROBES_AT_ONCE);
  return Promise.all(
    parsed.config.keys.map((key) =>
      limit(() => probeOne(key, defaultBaseUrl, model, timeoutMs, options.signal)),
    ),
  );
}
