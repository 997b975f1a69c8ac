/** Cutting the pending items into chunks, pulled by lanes as they free up. */
import type { InputBatch } from './input.js';

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
 * twice and none is left behind at the tail. An item that is done is skipped without being
 * taken from its batch (a file line is not even parsed).
 */
export async function* planChunks<T>(
  batches: AsyncIterable<InputBatch<T>>,
  isDone: (index: number) => boolean,
  chunkSize: number,
  stats: PlanStats,
): AsyncGenerator<Chunk<T>> {
  let chunkIndex = 0;
  let indices: number[] = [];
  let items: T[] = [];
  for await (const batch of batches) {
    for (let k = 0; k < batch.length; k++) {
      const index = stats.seen++;
      if (isDone(index)) {
        stats.skipped += 1;
        continue;
      }
      indices.push(index);
      items.push(batch.item(k));
      if (items.length >= chunkSize) {
        yield { chunkIndex: chunkIndex++, indices, items };
        indices = [];
        items = [];
      }
    }
  }
  stats.exhausted = true;
  if (items.length > 0) yield { chunkIndex: chunkIndex++, indices, items };
}
