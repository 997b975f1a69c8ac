/** The one check of what a task returned for a chunk, wherever it ran. */
import { KeybatchError } from '../errors.js';

/** The task's results when they are one per item; otherwise TASK_INVALID naming the chunk. */
export function checkResults(results: unknown, size: number, chunkIndex: number): unknown[] {
  if (Array.isArray(results) && results.length === size) return results;
  throw new KeybatchError(
    'TASK_INVALID',
    `fn returned ${Array.isArray(results) ? `${results.length} results` : typeof results} for a chunk of ${size} items (chunk ${chunkIndex}); it must return one result per item`,
  );
}
