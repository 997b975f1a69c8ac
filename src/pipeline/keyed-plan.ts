/**
 * Planning a content-keyed run (`itemKey`): each input position's key names a slot of the run
 * directory (`KeySlots`); a slot already recorded is skipped, a slot already handed out in this run
 * (a duplicate) waits for that one answer, and every other slot is handed out once, in input order.
 * The slot of each position is kept (`order`) for the merge, with the position's tag (its own id).
 */
import { DoneSet, KeySlots, OrderBuilder } from '../checkpoint/index.js';
import { InputError } from '../errors.js';
import type { InputBatch } from './input.js';
import type { Chunk, PlanStats } from './planner.js';

/** What a keyed run keeps while it plans, and until its merge. */
export interface KeyedState<T> {
  slots: KeySlots;
  /** The slot of each position read so far. */
  order: OrderBuilder;
  /** Per position, what `tag` gave (e.g. the record's id as JSON), for the merge. */
  tags: Array<string | undefined>;
  /** Positions beyond the first waiting for a slot handed out in this run: slot -> how many. */
  waiting: Map<number, number>;
  keyOf: (item: T) => string;
  tag: ((item: T, position: number) => string | undefined) | undefined;
  /** Whether a slot handed out in this run has its result already (a duplicate read now is answered). */
  answered: (slot: number) => boolean;
  /** A duplicate read after its slot's answer: counted as answered in this run. */
  answeredLate: (slot: number) => void;
}

/** Positions that share the slot of `index` beyond the one that asked (0 if none). */
export const extraOf = (state: KeyedState<unknown> | undefined, index: number): number =>
  state?.waiting.get(index) ?? 0;

function keyOfItem<T>(state: KeyedState<T>, item: T, position: number): string {
  const key = state.keyOf(item);
  if (typeof key !== 'string') {
    throw new InputError(`itemKey returned ${typeof key} for item ${position}; expected a string`);
  }
  return key;
}

/** Like `planChunks`, with chunk `indices` being slots (see the file comment). */
export async function* planKeyedChunks<T>(
  batches: AsyncIterable<InputBatch<T>>,
  isDone: (slot: number) => boolean,
  chunkSize: number,
  stats: PlanStats,
  state: KeyedState<T>,
): AsyncGenerator<Chunk<T>> {
  const handedOut = new DoneSet();
  let chunkIndex = 0;
  let indices: number[] = [];
  let items: T[] = [];
  const cut = (): Chunk<T> => {
    // Before any record can name them: the new slots' keys are on disk.
    state.slots.flush();
    const chunk: Chunk<T> = { chunkIndex: chunkIndex++, indices, items };
    indices = [];
    items = [];
    return chunk;
  };
  for await (const batch of batches) {
    for (let k = 0; k < batch.length; k++) {
      const position = stats.seen++;
      const item = batch.item(k);
      const slot = state.slots.slotOf(keyOfItem(state, item, position));
      state.order.push(slot);
      if (state.tag) state.tags.push(state.tag(item, position));
      if (isDone(slot)) {
        stats.skipped += 1;
        continue;
      }
      if (handedOut.has(slot)) {
        if (state.answered(slot)) state.answeredLate(slot);
        else state.waiting.set(slot, (state.waiting.get(slot) ?? 0) + 1);
        continue;
      }
      handedOut.add(slot);
      indices.push(slot);
      items.push(item);
      if (indices.length >= chunkSize) yield cut();
    }
  }
  state.slots.flush();
  stats.exhausted = true;
  if (indices.length > 0) yield cut();
}

/** The manifest fingerprint of a keyed run: its input may change between runs (that is the point). */
export const KEYED_FINGERPRINT = 'content-keyed';

/** A keyed run's state over `dir`'s slots (none: in memory). */
export function openKeyedState<T>(
  dir: string | undefined,
  keyOf: (item: T) => string,
  rows: { tag(item: T, position: number): string | undefined } | undefined,
  settled: Pick<KeyedState<T>, 'answered' | 'answeredLate'>,
): KeyedState<T> {
  return {
    ...settled,
    slots: dir === undefined ? KeySlots.memory() : KeySlots.open(dir),
    order: new OrderBuilder(),
    tags: [],
    waiting: new Map(),
    keyOf,
    tag: rows ? (item, position) => rows.tag(item, position) : undefined,
  };
}

/** Results by slot, in position order. */
export function resultsInOrder<R>(state: KeyedState<unknown>, bySlot: R[], total: number): R[] {
  const results = new Array<R>(total);
  for (let p = 0; p < total; p++) results[p] = bySlot[state.order.slots[p]!]!;
  return results;
}
