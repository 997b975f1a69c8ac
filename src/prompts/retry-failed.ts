/**
 * `retryFailed` / `--retry-failed`: a rerun that sends again the records whose row is a final
 * failure (any `error` row: a 400, `file_unsupported`, SCHEMA_INVALID, TRUNCATED, …), with the
 * options given now. Their records are dropped from the lane files (so the run does them again,
 * in their place in the output), and the manifest takes the new options, so answered rows are kept
 * whatever changed (model, max_tokens, schema, …). Failures a rerun retries anyway (5xx, timeouts)
 * are retried as always. Done before the run opens its directory; running it twice is harmless.
 */
import { join } from 'node:path';
import { dropItems } from '../checkpoint/drop.js';
import { finalErrorCode, readManifest, readResults } from '../checkpoint/index.js';
import { acquireRunLock } from '../checkpoint/lock.js';
import { normalizeOptions, writeManifest } from '../checkpoint/manifest.js';

export interface RetryFailedResult {
  /** Records whose final failure was dropped, to be sent again. */
  retried: number;
  /** Their error codes, with counts. */
  codes: Record<string, number>;
}

/**
 * Drops the final failures of the run in `dir` and records `options` (the run's options that
 * change results) as the manifest's. A directory without a manifest: nothing to do.
 */
export async function retryFailedItems(
  dir: string,
  options: Record<string, unknown>,
): Promise<RetryFailedResult> {
  const path = join(dir, 'manifest.json');
  if (!(await readManifest(path))) return { retried: 0, codes: {} };
  const failed = new Map<number, string>();
  await readResults(dir, (i, value) => {
    const code = finalErrorCode(value);
    if (code === undefined) failed.delete(i);
    else failed.set(i, code);
  });
  await dropItems(dir, failed.keys());
  const lock = await acquireRunLock(dir);
  try {
    const manifest = await readManifest(path);
    if (manifest) {
      // The pipeline's own options (`args`, and `identity` of a content-keyed run) stay as they
      // were; the prompt options are the new ones.
      const { args = null, identity } = manifest.options as { args?: unknown; identity?: unknown };
      const next = normalizeOptions({ args, ...(identity === undefined ? {} : { identity }), ...options });
      await writeManifest(path, { ...manifest, options: next, complete: false });
    }
  } finally {
    await lock.release();
  }
  const codes: Record<string, number> = {};
  for (const code of failed.values()) codes[code] = (codes[code] ?? 0) + 1;
  return { retried: failed.size, codes };
}
