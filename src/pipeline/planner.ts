/** Cutting the pending items into chunks, pulled by lanes as they free up. */
import type { InputBatch } from './input.js';

export interface Chunk<T> {
  chunkIndex: number;
  /** Input positions of the items, ascending. */
  indices: number[];
  items: T[];
  /** The items as their file lines' bytes, unparsed (file input read as bytes), instead of `items`. */
  lines?: Buffer[];
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
 * taken from its batch (a file line is not even parsed). Batches that give bytes (file input for
 * worker threads) make chunks that carry their lines' bytes in `lines`, and `items` stays empty.
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
  let lines: Buffer[] = [];
  const cut = (): Chunk<T> => {
    const chunk: Chunk<T> = { chunkIndex: chunkIndex++, indices, items };
    if (lines.length > 0) chunk.lines = lines;
    indices = [];
    items = [];
    lines = [];
    return chunk;
  };
  for await (const batch of batches) {
    const bytes = batch.bytes;
    for (let k = 0; k < batch.length; k++) {
      const index = stats.seen++;
      if (isDone(index)) {
        stats.skipped += 1;
        continue;
      }
      indices.push(index);
      if (bytes) lines.push(bytes(k));
      else items.push(batch.item(k));
      if (indices.length >= chunkSize) yield cut();
    }
  }
  stats.exhausted = true;
  if (indices.length > 0) yield cut();
}
