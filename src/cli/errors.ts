/**
 * Errors -> one line on stderr and an exit code. Mapped by `error.code` (keybatch's stable codes,
 * commander's `commander.*` codes, Node's system error codes), never by message text.
 */
import { KeybatchError, type KeybatchErrorCode } from '../index.js';
import { redactRedisUrl } from './redact-url.js';

export const EXIT = Object.freeze({
  /** Every item done. */
  ok: 0,
  /** Some items failed permanently (they are in the output with `error`); also unexpected errors. */
  failed: 1,
  /** Usage or config error: bad flags, invalid or missing config, bad input, checkpoint mismatch. */
  usage: 2,
  /** Stopped before the end (no usable key within --wait-timeout, interrupted); rerun to resume. */
  stopped: 3,
  /** A second Ctrl-C: gone at once. */
  interrupted: 130,
});

const EXIT_BY_CODE: Readonly<Record<KeybatchErrorCode, number>> = Object.freeze({
  CONFIG_INVALID: EXIT.usage,
  CONFIG_MISSING: EXIT.usage,
  INPUT_INVALID: EXIT.usage,
  MODEL_UNAVAILABLE: EXIT.usage,
  CHECKPOINT_MISMATCH: EXIT.usage,
  CHECKPOINT_INVALID: EXIT.usage,
  TASK_INVALID: EXIT.usage,
  RUN_LOCKED: EXIT.usage,
  OUTPUT_REFUSED: EXIT.usage,
  CHECKPOINT_WRITE: EXIT.usage,
  REDIS_UNREACHABLE: EXIT.usage,
  CACHE_INVALID: EXIT.usage,
  NO_USABLE_KEY: EXIT.stopped,
  ABORTED: EXIT.stopped,
  BUDGET_REACHED: EXIT.stopped,
  LIMIT_REACHED: EXIT.stopped,
  TASK_FAILED: EXIT.failed,
  // An answer that is not a usable structured output: the item failed (a row with `error`).
  SCHEMA_INVALID: EXIT.failed,
  TRUNCATED: EXIT.failed,
  FILTERED: EXIT.failed,
  REFUSED: EXIT.failed,
});

/** Node's errors about a path the user gave (a missing directory, no permission, …). */
const PATH_ERRORS = new Set([
  'ENOENT',
  'EACCES',
  'EPERM',
  'EISDIR',
  'ENOTDIR',
  'EEXIST',
  'EROFS',
  'EADDRINUSE',
]);

/** The keybatch error behind `error`, looking through `cause` (wrappers keep the original there). */
export function keybatchError(error: unknown): KeybatchError | undefined {
  for (let current = error, depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    if (current instanceof KeybatchError) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** An error commander throws (with `exitOverride`): `code` is `commander.<something>`. */
export function isCommanderError(error: unknown): error is Error & { code: string; exitCode: number } {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof Error && typeof code === 'string' && code.startsWith('commander.');
}

function systemCode(error: unknown): string | undefined {
  const { code, syscall } = error as { code?: unknown; syscall?: unknown };
  return typeof code === 'string' && typeof syscall === 'string' ? code : undefined;
}

/** The exit code for an error that ended a command. */
export function exitCodeOf(error: unknown): number {
  const own = keybatchError(error);
  if (own) return EXIT_BY_CODE[own.code] ?? EXIT.failed;
  if (isCommanderError(error)) {
    return error.code === 'commander.helpDisplayed' || error.code === 'commander.version'
      ? EXIT.ok
      : EXIT.usage;
  }
  const code = systemCode(error);
  if (code && PATH_ERRORS.has(code)) return EXIT.usage;
  return EXIT.failed;
}

/**
 * The one line to print for `error` (without the `keybatch: ` prefix). Messages of keybatch
 * errors already name the file, line, field or (redacted) key.
 */
export function errorLine(error: unknown): string {
  const own = keybatchError(error);
  const message = own
    ? own.message
    : error instanceof Error
      ? error.message
      : `unexpected error: ${String(error)}`;
  // A Redis URL in an error (a driver's own message) never shows its password.
  return redactRedisUrl(message.replace(/\s*\n\s*/g, ' ').trim()) || (own?.code ?? 'unexpected error');
}

/** With `--verbose`: every problem of a config error, and the stack. */
export function errorDetails(error: unknown): string[] {
  const lines: string[] = [];
  const own = keybatchError(error);
  const problems = (own as { problems?: unknown } | undefined)?.problems;
  if (Array.isArray(problems) && problems.length > 1) lines.push(...problems.map(String));
  if (error instanceof Error && error.stack) lines.push(redactRedisUrl(error.stack));
  return lines;
}
