/** One rule, used by the run and by `readRunStatus`: which results are final failures. */

/**
 * The error code of a result that is a final failure (an object with an `error` field, like a
 * prompt row for a 400), or undefined for a result that is a success.
 */
export function finalErrorCode(result: unknown): string | undefined {
  if (result === null || typeof result !== 'object' || !('error' in result)) return undefined;
  const error = (result as { error: unknown }).error;
  if (error === undefined || error === null) return undefined;
  const { code, status } = error as { code?: unknown; status?: unknown };
  if (typeof code === 'string') return code;
  return typeof status === 'number' ? String(status) : 'error';
}
