/**
 * keybatch's own errors: one root class with a stable string `code`, a few subclasses.
 * Errors from the OpenAI SDK are kept as they are (or as `cause`); they are classified by
 * `status` and `code`, never by message text.
 */

export type KeybatchErrorCode =
  | 'CONFIG_INVALID'
  | 'CONFIG_MISSING'
  | 'INPUT_INVALID'
  | 'NO_USABLE_KEY'
  | 'MODEL_UNAVAILABLE'
  | 'CHECKPOINT_MISMATCH'
  | 'CHECKPOINT_INVALID'
  | 'TASK_FAILED'
  | 'TASK_INVALID'
  /** Another live process holds the run directory's lock (its pid is in the message). */
  | 'RUN_LOCKED'
  /** The output path is the input, an existing file that is not this run's output, or not writable. */
  | 'OUTPUT_REFUSED'
  /** Appending to a checkpoint (lane file, manifest) failed, e.g. ENOSPC; rolled back, resumable. */
  | 'CHECKPOINT_WRITE'
  /** The next request would pass the run's budget (`budgetUsd` / `--budget`); resumable. */
  | 'BUDGET_REACHED'
  /** `limit` / `--limit` items were run and more are pending; resumable. */
  | 'LIMIT_REACHED'
  /** The shared pool's Redis (`shared.url`, `--redis`, `KEYBATCH_REDIS`) could not be reached at start. */
  | 'REDIS_UNREACHABLE'
  /** Structured outputs: the answer did not match the schema after the re-asks (`--reask`). */
  | 'SCHEMA_INVALID'
  /** Structured outputs: the answer was cut off by the token limit (`finish_reason: length`, responses `max_output_tokens`). */
  | 'TRUNCATED'
  /** Structured outputs: the answer was stopped by the content filter. */
  | 'FILTERED'
  /** Structured outputs: the model refused (`refusal`, or a refusal as plain text where JSON was due). */
  | 'REFUSED'
  /** The response cache folder (`cache` / `--cache`) cannot be opened. */
  | 'CACHE_INVALID'
  | 'ABORTED';

/** The codes of an answer that came back but is not a valid structured output (a row's `error.code`). */
export type OutputFailureCode = 'SCHEMA_INVALID' | 'TRUNCATED' | 'FILTERED' | 'REFUSED';

export class KeybatchError extends Error {
  readonly code: KeybatchErrorCode;
  constructor(code: KeybatchErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KeybatchError';
    this.code = code;
  }
}

/** config.json (or the config object) is missing or invalid. */
export class ConfigError extends KeybatchError {
  /** Every problem found, each naming the file and field path. */
  readonly problems: readonly string[];
  constructor(
    message: string,
    options?: { code?: 'CONFIG_INVALID' | 'CONFIG_MISSING'; problems?: string[] },
  ) {
    super(options?.code ?? 'CONFIG_INVALID', message);
    this.name = 'ConfigError';
    this.problems = Object.freeze([...(options?.problems ?? [message])]);
  }
}

/** Input data (a .jsonl line, a prompt record, an option value) is invalid. */
export class InputError extends KeybatchError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INPUT_INVALID', message, options);
    this.name = 'InputError';
  }
}

/** No key could serve a request within the wait timeout, or no key can serve the model at all. */
export class NoUsableKeyError extends KeybatchError {
  constructor(message: string, options?: { code?: 'NO_USABLE_KEY' | 'MODEL_UNAVAILABLE'; cause?: unknown }) {
    super(options?.code ?? 'NO_USABLE_KEY', message, options);
    this.name = 'NoUsableKeyError';
  }
}

/** A checkpoint was made from different input or options; it is refused rather than mixed. */
export class CheckpointMismatchError extends KeybatchError {
  constructor(message: string) {
    super('CHECKPOINT_MISMATCH', message);
    this.name = 'CheckpointMismatchError';
  }
}

/** The operation was cancelled through an AbortSignal or an interrupt. */
export class AbortError extends KeybatchError {
  constructor(message = 'The operation was aborted') {
    super('ABORTED', message);
    this.name = 'AbortError';
  }
}

/**
 * A structured output that cannot be used: SCHEMA_INVALID (with the validation `errors`),
 * TRUNCATED, FILTERED or REFUSED. Thrown by `parseResponse` / `completeStructured`.
 */
export class StructuredOutputError extends KeybatchError {
  declare readonly code: OutputFailureCode;
  /** SCHEMA_INVALID: each validation error (`/path: message`); else empty. */
  readonly errors: readonly string[];
  constructor(code: OutputFailureCode, message: string, errors: readonly string[] = []) {
    super(code, message);
    this.name = 'StructuredOutputError';
    this.errors = Object.freeze([...errors]);
  }
}

/** An error as plain data, so it survives a thread boundary (structured clone drops `code`/`status`). */
export interface SerializedError {
  name: string;
  message: string;
  code?: string | null | undefined;
  status?: number | undefined;
  type?: string | null | undefined;
  stack?: string | undefined;
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) {
    const e = error as Error & { code?: unknown; status?: unknown; type?: unknown };
    const out: SerializedError = { name: e.name, message: e.message };
    if (typeof e.code === 'string') out.code = e.code;
    if (typeof e.status === 'number') out.status = e.status;
    if (typeof e.type === 'string') out.type = e.type;
    if (e.stack) out.stack = e.stack;
    return out;
  }
  return { name: 'Error', message: String(error) };
}

const CODES = new Set<string>([
  'RUN_LOCKED',
  'OUTPUT_REFUSED',
  'CHECKPOINT_WRITE',
  'CONFIG_INVALID',
  'CONFIG_MISSING',
  'INPUT_INVALID',
  'NO_USABLE_KEY',
  'MODEL_UNAVAILABLE',
  'CHECKPOINT_MISMATCH',
  'CHECKPOINT_INVALID',
  'TASK_FAILED',
  'TASK_INVALID',
  'ABORTED',
  'BUDGET_REACHED',
  'LIMIT_REACHED',
  'REDIS_UNREACHABLE',
  'SCHEMA_INVALID',
  'TRUNCATED',
  'FILTERED',
  'REFUSED',
]);

function rebuildKeybatchError(code: KeybatchErrorCode, message: string): KeybatchError {
  switch (code) {
    case 'NO_USABLE_KEY':
    case 'MODEL_UNAVAILABLE':
      return new NoUsableKeyError(message, { code });
    case 'ABORTED':
      return new AbortError(message);
    case 'CHECKPOINT_MISMATCH':
      return new CheckpointMismatchError(message);
    case 'INPUT_INVALID':
      return new InputError(message);
    case 'CONFIG_INVALID':
    case 'CONFIG_MISSING':
      return new ConfigError(message, { code });
    case 'SCHEMA_INVALID':
    case 'TRUNCATED':
    case 'FILTERED':
    case 'REFUSED':
      return new StructuredOutputError(code, message);
    default:
      return new KeybatchError(code, message);
  }
}

/** Rebuilds an error from plain data; keybatch's own codes come back as their own classes. */
export function deserializeError(data: SerializedError): Error {
  if (data.code && CODES.has(data.code)) {
    const error = rebuildKeybatchError(data.code as KeybatchErrorCode, data.message);
    if (data.stack) error.stack = data.stack;
    return error;
  }
  const error = new Error(data.message) as Error & {
    code?: string | null;
    status?: number;
    type?: string | null;
  };
  error.name = data.name;
  if (data.code !== undefined) error.code = data.code;
  if (data.status !== undefined) error.status = data.status;
  if (data.type !== undefined) error.type = data.type;
  if (data.stack) error.stack = data.stack;
  return error;
}

/** The keybatch error behind `error`, looking through `cause` chains (the SDK wraps what fetch throws). */
export function keybatchErrorOf(error: unknown): KeybatchError | undefined {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    if (current instanceof KeybatchError) return current;
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && CODES.has(code) && current instanceof Error) {
      return rebuildKeybatchError(code as KeybatchErrorCode, current.message);
    }
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
