/** runPrompts' options: one defaults constant, every value validated up front, the result frozen. */
import type { DistributedOptions } from '../distributed/options.js';
import { InputError } from '../errors.js';
import type { ClientOptions } from '../keys/client.js';
import type { KeyPoolOptions } from '../keys/key-pool.js';
import type { Logger } from '../logger.js';
import type { Progress } from '../pipeline/progress.js';
import {
  describeValue,
  ENDPOINTS,
  type Endpoint,
  isPlainObject,
  OUTPUT_FORMATS,
  type OutputFormat,
} from '../requests/endpoint.js';
import { mapParams } from '../requests/endpoint-params.js';
import type { SchemaInput } from '../schema/schema.js';

export interface PromptOptions {
  /**
   * The output .jsonl: one line per input record, in input order. The run directory (checkpoint)
   * is `<output>.keybatch`. Required.
   */
  output: string;
  /**
   * The model of every request. Required unless every record is an OpenAI Batch API line whose
   * `body` names its `model` (a Batch line's own `body.model` always wins).
   * @default none
   */
  model?: string;
  /**
   * The system prompt of records that have none (`prompt` records without `system`, `messages`
   * records without a system message). Not applied to Batch API lines, which are sent as written.
   * Not supported with the `completions` and `embeddings` endpoints.
   * @default none
   */
  system?: string;
  /**
   * The API `prompt` and `messages` records are sent to; Batch API lines use their `url`.
   * @default 'chat'
   */
  endpoint?: Endpoint;
  /**
   * Request parameters passed through unchanged (`temperature`, `max_tokens`, `top_p`,
   * `frequency_penalty`, `presence_penalty`, `tools`, `tool_choice`, `response_format`, …). A Batch
   * line's own `body` fields win. `model`, `messages`, `prompt`, `input` and `instructions` come
   * from the options and records, and streaming is not supported.
   * @default {}
   */
  params?: Record<string, unknown>;
  /**
   * Keep each whole answer body in its row, as `raw`.
   * @default false
   */
  raw?: boolean;
  /**
   * The output lines: `'rows'` (`{ id, system_prompt, prompt, response, … }`), or `'batch'`, the
   * OpenAI Batch API's output lines `{ id, custom_id, response: { status_code, request_id, body },
   * error }` (in input order).
   * @default 'rows'
   */
  format?: OutputFormat;
  /** Lanes (in-process; each starts its key rotation at `key_index + lane`). @default 4 */
  workers?: number;
  /** Requests in flight per lane (each prompt is its own chunk). @default 8 */
  concurrency?: number;
  /** Skip records already answered in the checkpoint; `false` starts over. @default true */
  resume?: boolean;
  /** Stops the run: no new requests, those in flight aborted; the checkpoint stays resumable. @default none */
  signal?: AbortSignal;
  /**
   * Stops the run gracefully: no new requests; those in flight finish and are checkpointed, then it
   * rejects with `AbortError` carrying `summary`. What the first Ctrl-C does. @default none
   */
  stopSignal?: AbortSignal;
  /**
   * Let `output` replace an existing file this run did not write (never the input itself).
   * @default false
   */
  overwrite?: boolean;
  /** Called about every `progressIntervalMs`, and once at the end. @default none */
  onProgress?: (progress: Progress) => void;
  /** @default 1000 */
  progressIntervalMs?: number;
  /**
   * Handle SIGINT, SIGTERM and SIGHUP: the first stops taking prompts, lets those in flight finish
   * and checkpoint, then rejects with `AbortError` (resumable); a second aborts those in flight. The
   * process is never ended.
   * @default true
   */
  handleSignals?: boolean;
  /** @default a logger writing `keybatch: …` lines to stderr */
  logger?: Logger;
  /** Options of the KeyPool when `config` is a path or object (`waitTimeoutMs`, `watch`, `notify`, …). @default {} */
  pool?: KeyPoolOptions;
  /** The pool-aware client's settings: `retry`, `timeoutMs` (per attempt), `defaultBaseURL`, `onAttempt`. @default {} */
  client?: ClientOptions;
  /**
   * Write an audit log here: one JSON line per HTTP attempt (time, redacted key, model, method,
   * path, attempt, status, outcome, code, latency_ms, request, response or error) in
   * `<logDir>/keybatch-<ISO time>.jsonl`. No full key is ever written.
   * @default none
   */
  logDir?: string;
  /**
   * Run only the first `limit` pending records (a sample). Not part of the checkpoint's identity:
   * a rerun without it continues the same run. With records still pending the run stops with
   * `LIMIT_REACHED` (resumable); the output is merged only once every record has a line.
   * @default none (all)
   */
  limit?: number;
  /**
   * Stop before spending more than this, in USD: each request reserves its estimated cost (prompt
   * tokens, output at its `max_tokens` or 256) and settles to its actual cost; when the next one
   * would pass the cap the run stops with `BUDGET_REACHED` (resumable). What the checkpoint already
   * spent counts. A model with no price is refused (`INPUT_INVALID`).
   * @default none
   */
  budgetUsd?: number;
  /**
   * `'online'` sends each record as its own request; `'batch'` sends them through the OpenAI Batch
   * API (half the price, answers within 24 h): the same rows, checkpointed the same way, with the
   * batches recorded in `<output>.keybatch/batches.json` so a rerun resumes polling them.
   * @default 'online'
   */
  backend?: 'online' | 'batch';
  /** Batch backend: the first wait between polls of a batch (backoff up to 8x). @default 30000 */
  pollIntervalMs?: number;
  /**
   * Batch backend: cancel the batches of this run (an interrupted one) instead of waiting for
   * them; nothing new is submitted, and the run rejects with `AbortError` once they are cancelled.
   * @default false
   */
  cancel?: boolean;
  /** Batch backend: requests per batch at most (the API's limit is 50,000). @default 50000 */
  shardMaxRequests?: number;
  /** Batch backend: bytes of a batch's input file at most (the API's limit is 200 MB). @default 209715200 */
  shardMaxBytes?: number;
  /**
   * Where records' relative `files` are found.
   * @default the input file's folder for a .jsonl path, else the current directory
   */
  filesDir?: string;
  /**
   * More folders records' `files` may come from. A record's file must resolve (every symbolic
   * link followed) inside `filesDir` or one of these; anything else gets an error row
   * (`file_not_allowed`) and is never read.
   * @default []
   */
  filesFrom?: string[];
  /**
   * Upload the PDFs and images records name (once per organization and content, cached in
   * `<output>.keybatch/uploads.json`) and send them by file id; such a request goes only to keys
   * of the organization that holds its files. Text files are always inlined.
   * @default false
   */
  upload?: boolean;
  /**
   * Also write each answer to `<writeTo>/<path of the record's first file>` (a mirror of the input
   * tree), after the output is written; never outside `writeTo`. Rows format only.
   * @default none
   */
  writeTo?: string;
  /**
   * The response cache: a folder (made if needed) holding answers by row identity, shared by every
   * run and output that names it. A record whose request was answered before (same provider,
   * endpoint, model, parameters and content) is answered from it, `"cached": true` in its row, at no
   * cost; new successful answers are added. Errors are never cached and keys never stored.
   * Off unless named (see docs/cache.md for why).
   * @default none (no cache)
   */
  cache?: string;
  /**
   * Send the records through `keybatch worker` processes (any number, on any machine) via a
   * BullMQ queue on this Redis; this process is the coordinator (input, checkpoint, output). Not
   * with `backend: 'batch'`, `budgetUsd` or records that name `files`.
   * @default none (local lanes)
   */
  distributed?: DistributedOptions;
  /**
   * Structured outputs: a JSON Schema (or OpenAI's `{ name, schema }` wrapper) or a zod schema.
   * Sent as `response_format` (chat) / `text.format` (responses) with `strict: true` unless a
   * record sets its own; each answer is parsed and checked (ajv, or zod for a zod schema), a valid
   * one kept as `parsed`, an invalid one re-asked with its errors (`reask`), and a truncated,
   * filtered or refused one recorded as failed (TRUNCATED, FILTERED, REFUSED). Chat and responses only.
   * @default none
   */
  schema?: SchemaInput;
  /** Re-asks of an answer that does not match its schema, then SCHEMA_INVALID. @default 2 */
  reask?: number;
  /**
   * Send again the records whose row is a final failure (an `error` row: a 400, SCHEMA_INVALID,
   * TRUNCATED, …) with the options given now (another model, a larger `max_tokens`, …); answered
   * rows stay as they are, in input order. Other options than those of the checkpoint are accepted
   * for this (the input must be the same).
   * @default false
   */
  retryFailed?: boolean;
}

export const PROMPT_DEFAULTS = Object.freeze({
  endpoint: 'chat' as Endpoint,
  params: Object.freeze({}) as Readonly<Record<string, unknown>>,
  raw: false,
  format: 'rows' as OutputFormat,
  workers: 4,
  concurrency: 8,
  resume: true,
  progressIntervalMs: 1000,
  handleSignals: true,
});

export type ResolvedPromptOptions = Readonly<
  Omit<PromptOptions, keyof typeof PROMPT_DEFAULTS> & {
    endpoint: Endpoint;
    params: Readonly<Record<string, unknown>>;
    raw: boolean;
    format: OutputFormat;
    workers: number;
    concurrency: number;
    resume: boolean;
    progressIntervalMs: number;
    handleSignals: boolean;
  }
>;

const KNOWN = new Set<string>([
  'output',
  'model',
  'system',
  'endpoint',
  'params',
  'raw',
  'format',
  'workers',
  'concurrency',
  'resume',
  'signal',
  'stopSignal',
  'overwrite',
  'onProgress',
  'progressIntervalMs',
  'handleSignals',
  'logger',
  'pool',
  'client',
  'logDir',
  'limit',
  'budgetUsd',
  'backend',
  'pollIntervalMs',
  'cancel',
  'shardMaxRequests',
  'shardMaxBytes',
  'filesDir',
  'filesFrom',
  'upload',
  'writeTo',
  'cache',
  'distributed',
  'schema',
  'reask',
  'retryFailed',
]);

/** Common request parameters without `_`, for the hint on an unknown option. */
const REQUEST_PARAMS = new Set([
  'temperature',
  'tools',
  'seed',
  'stop',
  'n',
  'logprobs',
  'user',
  'metadata',
  'reasoning',
  'text',
  'dimensions',
  'store',
]);

/** Request fields that the options and records supply; a `params` entry may not set them. */
const RESERVED_PARAMS: Readonly<Record<string, string>> = Object.freeze({
  model: 'pass it as the `model` option',
  messages: 'it comes from each record',
  prompt: 'it comes from each record',
  input: 'it comes from each record',
  instructions: 'pass it as the `system` option',
});

function fail(name: string, expected: string, value: unknown): never {
  throw new InputError(`Expected \`${name}\` to be ${expected}, got ${describeValue(value)}`);
}

function integer(name: string, value: unknown, min: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    fail(name, `a whole number >= ${min}`, value);
  }
}

function optionalString(name: string, value: unknown, nonEmpty: boolean): void {
  if (value === undefined) return;
  if (typeof value !== 'string' || (nonEmpty && value === '')) {
    fail(name, nonEmpty ? 'a non-empty string' : 'a string', value);
  }
}

function checkFilesFrom(value: unknown): void {
  if (value === undefined) return;
  if (!Array.isArray(value) || value.some((dir) => typeof dir !== 'string' || dir === '')) {
    fail('filesFrom', 'an array of folder paths', value);
  }
}

function validateParams(params: unknown): void {
  if (!isPlainObject(params)) fail('params', 'an object of request parameters', params);
  for (const [key, why] of Object.entries(RESERVED_PARAMS)) {
    if (params[key] !== undefined) {
      throw new InputError(`\`params.${key}\` is not allowed: ${why}`);
    }
  }
  if (params['stream'] !== undefined && params['stream'] !== false) {
    throw new InputError(
      `\`params.stream\` is not supported (runPrompts reads whole answers), got ${describeValue(params['stream'])}`,
    );
  }
}

function validateSchemaOptions(resolved: ResolvedPromptOptions): void {
  if (resolved.reask !== undefined) integer('reask', resolved.reask, 0);
  if (resolved.retryFailed !== undefined && typeof resolved.retryFailed !== 'boolean') {
    fail('retryFailed', 'a boolean', resolved.retryFailed);
  }
  if (resolved.schema === undefined) return;
  if (typeof resolved.schema !== 'object' || resolved.schema === null || Array.isArray(resolved.schema)) {
    fail('schema', 'a JSON Schema object or a zod schema', resolved.schema);
  }
  if (resolved.endpoint === 'completions' || resolved.endpoint === 'embeddings') {
    throw new InputError(
      `\`schema\` needs endpoint 'chat' or 'responses' (structured outputs), not '${resolved.endpoint}'`,
    );
  }
  if (
    resolved.distributed !== undefined &&
    typeof (resolved.schema as { safeParse?: unknown }).safeParse === 'function'
  ) {
    throw new InputError('a zod `schema` cannot run distributed (workers get JSON Schema): pass JSON Schema');
  }
}

/** Validates every option, fills in the defaults, and freezes the result. */
export function resolvePromptOptions(options: PromptOptions): ResolvedPromptOptions {
  if (!isPlainObject(options)) fail('options', 'an object with at least `output`', options);
  checkKnown(options);
  const given = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
  const resolved = { ...PROMPT_DEFAULTS, ...given } as Resolving;
  checkPaths(resolved);
  checkBackend(resolved);
  checkRequests(resolved);
  checkRun(resolved);
  return Object.freeze({ ...resolved, params: Object.freeze({ ...resolved.params }) });
}

type Resolving = ResolvedPromptOptions & Record<string, unknown>;

/** Every option is one runPrompts knows (a request parameter is pointed to `params`). */
function checkKnown(options: PromptOptions): void {
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) {
      throw new InputError(
        `Unknown option \`${key}\`${key.includes('_') || REQUEST_PARAMS.has(key) ? ' (request parameters go in `params`)' : ''}`,
      );
    }
  }
}

/** The output, the model and the files and folders a run reads or writes. */
function checkPaths(resolved: Resolving): void {
  if (typeof resolved.output !== 'string' || resolved.output === '') {
    fail('output', 'a file path (the .jsonl to write)', resolved.output);
  }
  optionalString('model', resolved.model, true);
  optionalString('system', resolved.system, false);
  optionalString('logDir', resolved.logDir, true);
  optionalString('filesDir', resolved.filesDir, true);
  checkFilesFrom(resolved.filesFrom);
  optionalString('writeTo', resolved.writeTo, true);
  optionalString('cache', resolved.cache, true);
  if (resolved.upload !== undefined && typeof resolved.upload !== 'boolean') {
    fail('upload', 'a boolean', resolved.upload);
  }
  if (resolved.writeTo !== undefined && resolved.format === 'batch') {
    throw new InputError("`writeTo` writes answers of rows: it is not supported with `format: 'batch'`");
  }
}

/** The backend (online or Batch API) and what each allows: limit, budget, distributed, cancel. */
function checkBackend(resolved: Resolving): void {
  if (resolved.limit !== undefined) integer('limit', resolved.limit, 1);
  if (resolved.backend !== undefined && resolved.backend !== 'online' && resolved.backend !== 'batch') {
    fail('backend', "'online' or 'batch'", resolved.backend);
  }
  if (resolved.pollIntervalMs !== undefined) integer('pollIntervalMs', resolved.pollIntervalMs, 1);
  if (resolved.shardMaxRequests !== undefined) integer('shardMaxRequests', resolved.shardMaxRequests, 1);
  if (resolved.shardMaxRequests !== undefined && resolved.shardMaxRequests > 50_000) {
    fail('shardMaxRequests', 'at most 50000 (the Batch API limit)', resolved.shardMaxRequests);
  }
  if (resolved.shardMaxBytes !== undefined) integer('shardMaxBytes', resolved.shardMaxBytes, 1);
  if (resolved.cancel !== undefined && typeof resolved.cancel !== 'boolean')
    fail('cancel', 'a boolean', resolved.cancel);
  if (resolved.budgetUsd !== undefined && resolved.backend === 'batch') {
    throw new InputError(
      "`budgetUsd` cannot be kept with `backend: 'batch'`: a batch is billed for all its rows once submitted, so a cap could only be kept by holding back each shard's whole estimate, which is not built",
    );
  }
  if (resolved.limit !== undefined && resolved.backend === 'batch') {
    // A sample would cut a shard short, and the full rerun would then send those records again.
    throw new InputError(
      "`limit` is not supported with `backend: 'batch'` (shards must stay the same over reruns)",
    );
  }
  if (
    resolved.distributed !== undefined &&
    (resolved.backend === 'batch' || resolved.budgetUsd !== undefined)
  ) {
    throw new InputError(
      `\`distributed\` is not supported with ${resolved.backend === 'batch' ? "`backend: 'batch'`" : '`budgetUsd` yet (workers would each need the ledger)'}`,
    );
  }
  if (resolved.cancel === true && resolved.backend !== 'batch') {
    throw new InputError(
      "`cancel` cancels the batches of a batch run: it needs `backend: 'batch'` (--batch)",
    );
  }
}

/** The endpoint, the system prompt, the schema and the request parameters. */
function checkRequests(resolved: Resolving): void {
  if (!ENDPOINTS.includes(resolved.endpoint)) {
    fail('endpoint', `one of ${ENDPOINTS.map((e) => `'${e}'`).join(', ')}`, resolved.endpoint);
  }
  if (
    resolved.system !== undefined &&
    (resolved.endpoint === 'completions' || resolved.endpoint === 'embeddings')
  ) {
    throw new InputError(
      `\`system\` is not supported with endpoint '${resolved.endpoint}' (it has no system prompt), got ${describeValue(resolved.system)}`,
    );
  }
  validateSchemaOptions(resolved);
  validateParams(resolved.params);
  const { refused } = mapParams(resolved.endpoint, resolved.params);
  if (refused) throw new InputError(`\`params\`: ${refused.message}`);
  if (!OUTPUT_FORMATS.includes(resolved.format)) {
    fail('format', OUTPUT_FORMATS.map((f) => `'${f}'`).join(' or '), resolved.format);
  }
}

/** How the run goes: lanes, progress, signals, the logger, the pool and client options. */
function checkRun(resolved: Resolving): void {
  integer('workers', resolved.workers, 1);
  integer('concurrency', resolved.concurrency, 1);
  integer('progressIntervalMs', resolved.progressIntervalMs, 1);
  for (const key of ['resume', 'handleSignals', 'raw'] as const) {
    if (typeof resolved[key] !== 'boolean') fail(key, 'a boolean', resolved[key]);
  }
  for (const key of ['signal', 'stopSignal'] as const) {
    if (resolved[key] !== undefined && !(resolved[key] instanceof AbortSignal)) {
      fail(key, 'an AbortSignal', resolved[key]);
    }
  }
  if (resolved.overwrite !== undefined && typeof resolved.overwrite !== 'boolean') {
    fail('overwrite', 'a boolean', resolved.overwrite);
  }
  if (resolved.onProgress !== undefined && typeof resolved.onProgress !== 'function') {
    fail('onProgress', 'a function', resolved.onProgress);
  }
  const logger = resolved.logger as unknown;
  if (logger !== undefined && (!isPlainObject(logger) || typeof logger['warn'] !== 'function')) {
    fail('logger', 'an object with debug/info/warn/error methods', logger);
  }
  for (const key of ['pool', 'client'] as const) {
    if (resolved[key] !== undefined && !isPlainObject(resolved[key])) fail(key, 'an object', resolved[key]);
  }
}
