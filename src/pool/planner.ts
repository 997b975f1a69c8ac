/** Cutting the pending items into chunks, pulled by lanes as they free up. */

export interface Chunk<T> {
  chunkIndex: number;
  /** Input positions of the items, ascending. */
  indices: number[];
  items: T[];
}

export interface PlanStats {
  /** Items read from the input so far. */
  seen: number;
  /** Items skipped because the checkpoint already has their result. */
  skipped: number;
  /** Whether the input has been read to the end. */
  exhausted: boolean;
}

/**
 * Yields chunks of up to `chunkSize` items not yet done, in input order. One shared generator
 * serves every lane (async generators queue concurrent `next()` calls), so no item is handed out
 * twice and none is left behind at the tail.
 */
export async function* planChunks<T>(
  items: AsyncIterable<T>,
  isDone: (index: number) => boolean,
  chunkSize: number,
  stats: PlanStats,
): AsyncGenerator<Chunk<T>> {
  let chunkIndex = 0;
  let indices: number[] = [];
  let batch: T[] = [];
  for await (const item of items) {
    const index = stats.seen++;
    if (isDone(index)) {
      stats.skipped += 1;
      continue;
    }
    indices.push(index);
    batch.push(item);
    if (batch.length >= chunkSize) {
      yield { chunkIndex: chunkIndex++, indices, items: batch };
      indices = [];
      batch = [];
    }
  }
  stats.exhausted = true;
  if (batch.length > 0) yield { chunkIndex: chunkIndex++, indices, items: batch };
}
