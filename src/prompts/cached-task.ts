/**
 * The response cache in front of a prompt task (online or Batch): a chunk's records whose identity
 * has an answer in the cache get their row from it, marked `"cached": true`, and cost nothing (no
 * request, no spend, no tokens counted); the others go to the task as a smaller chunk, and their
 * rows come back in place. Answers are put in the cache where they arrive (`remember`), and only
 * successful ones: an error is never cached.
 */
import type { ResponseCache } from '../cache/index.js';
import type { Logger } from '../logger.js';
import { type BatchOutputLine, batchSuccess } from '../requests/batch-format.js';
import type { OutputFormat } from '../requests/endpoint.js';
import type { PromptJob } from '../requests/records.js';
import { requestBody } from '../requests/requests.js';
import { type PromptRow, successRow } from '../requests/rows.js';
import type { TaskContext } from '../workers/types.js';

type Row = PromptRow | BatchOutputLine;
type Task = (chunk: PromptJob[], ctx: TaskContext) => Promise<Row[]>;

export interface CacheUse {
  cache: ResponseCache;
  format: OutputFormat;
  raw: boolean;
  model: string | undefined;
  params: Readonly<Record<string, unknown>>;
  logger: Logger;
}

/** The row of a cached answer, as the task would have written it, with `cached: true`. */
function cachedRow(job: PromptJob, answer: unknown, use: CacheUse): Row {
  if (use.format === 'batch') return { ...batchSuccess(job, answer, null), cached: true } as BatchOutputLine;
  const model = requestBody(job, use.model, use.params)['model'];
  return { ...successRow(job, job.endpoint, answer, model, use.raw), cached: true } as PromptRow;
}

/** `task` with the cache in front (see the file comment); `onHit` counts the rows it answers. */
export function cachedTask(task: Task, use: CacheUse, onHit: () => void): Task {
  return async (chunk, ctx) => {
    const rows: Array<Row | undefined> = chunk.map((job) => {
      const answer = job.key === undefined ? undefined : use.cache.get(job.key);
      if (answer === undefined) return undefined;
      onHit();
      return cachedRow(job, answer, use);
    });
    const misses = chunk.filter((_, k) => rows[k] === undefined);
    if (misses.length > 0) {
      const answered = await task(misses, ctx);
      let next = 0;
      for (let k = 0; k < rows.length; k++) rows[k] ??= answered[next++];
    }
    return rows as Row[];
  };
}

/**
 * Puts a successful answer in the cache; resolves once it is committed (visible to a later run,
 * and kept through a kill: lmdb's commit is in the file mapping before fsync), so a row is in the
 * cache before the checkpoint records it and a second output never pays for an answer the first
 * one has. A failed write is a warning (the run's checkpoint still has the row).
 */
export async function remember(use: CacheUse | undefined, job: PromptJob, answer: unknown): Promise<void> {
  if (!use || job.key === undefined) return;
  try {
    await use.cache.put(job.key, answer);
  } catch (error) {
    use.logger.warn(`cache ${use.cache.path}: an answer was not stored (${(error as Error).message})`);
  }
}
