/** The one-line error of a failed checkpoint write (a full disk, a quota, an I/O error). */

import { KeybatchError } from '../errors.js';

const REASONS: Readonly<Record<string, string>> = Object.freeze({
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large',
  EIO: 'input/output error',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
});

/** `<path>: no space left on device (ENOSPC); …`: the errno's reason, or the error's message. */
export function describeWriteFailure(path: string, error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const reason =
    code && REASONS[code]
      ? `${REASONS[code]} (${code})`
      : error instanceof Error
        ? error.message
        : String(error);
  return `${path}: ${reason}`;
}

/**
 * KeybatchError CHECKPOINT_WRITE: writing `path` failed and the checkpoint is as it was before
 * the write, so the run is resumable. `state` says what was kept, `then` what a rerun does.
 */
export function checkpointWriteError(
  path: string,
  error: unknown,
  state = 'nothing was lost',
  then = 'rerun to resume',
): KeybatchError {
  if (error instanceof KeybatchError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const fix = code === 'ENOSPC' || code === 'EDQUOT' ? 'free space' : 'fix that';
  return new KeybatchError(
    'CHECKPOINT_WRITE',
    `${describeWriteFailure(path, error)}; ${state}, ${fix} and ${then}`,
    {
      cause: error,
    },
  );
}
