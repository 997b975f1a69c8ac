/**
 * Planning a content-keyed run (`itemKey`): each input position's key names a slot of the run
 * directory (`KeySlots`); a slot already recorded is skipped, a slot already handed out in this run
 * (a duplicate) waits for that one answer, and every other slot is handed out once, in input order.
 * The slot of each position is kept (`order`) for the merge, with the position's tag (its own id).
 *
 * A file's keys are taken in the pass that checks its lines before the run (`KeyColumn`): the plan
 * then parses only the lines it hands out, so a resumed run parses each line once, not twice.
 */
import { DoneSet, KEY_WORDS, KeySlots, keyWords, OrderBuilder } from '../checkpoint/index.js';
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
  /** Each position's key and tag, taken before the plan (a file's checking pass); undefined: taken as read. */
  column: KeyColumn<T> | undefined;
}

/**
 * The keys of a file's items by position, as `keyWords` makes them (16 bytes each, in a growing
 * array: no string is kept), and their tags: filled by `visit` during the pass that checks the file.
 */
export class KeyColumn<T> {
  words = new Uint32Array(1024 * KEY_WORDS);
  length = 0;
  readonly tags: Array<string | undefined> = [];

  constructor(
    private readonly keyOf: (item: T) => string,
    private readonly tag: ((item: T, position: number) => string | undefined) | undefined,
  ) {}

  /** Takes the key (and tag) of the item at `position` (positions come in order from 0). */
  readonly visit = (item: T, position: number): void => {
    if ((position + 1) * KEY_WORDS > this.words.length) {
      const bigger = new Uint32Array(this.words.length * 2);
      bigger.set(this.words);
      this.words = bigger;
    }
    keyWords(keyOfItem(this.keyOf, item, position), this.words, position * KEY_WORDS);
    if (this.tag) this.tags.push(this.tag(item, position));
    this.length = position + 1;
  };
}

/** Positions that share the slot of `index` beyond the one that asked (0 if none). */
export const extraOf = (state: KeyedState<unknown> | undefined, index: number): number =>
  state?.waiting.get(index) ?? 0;

function keyOfItem<T>(keyOf: (item: T) => string, item: T, position: number): string {
  const key = keyOf(item);
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
  const { column } = state;
  for await (const batch of batches) {
    for (let k = 0; k < batch.length; k++) {
      const position = stats.seen++;
      // Taken before the plan (a file): the item is parsed only if it is handed out.
      let item: T | undefined;
      let slot: number;
      if (column && position < column.length) {
        // Its tag is in `state.tags` already: they are the column's.
        slot = state.slots.slotOfWords(column.words, position * KEY_WORDS);
      } else {
        item = batch.item(k);
        slot = state.slots.slotOf(keyOfItem(state.keyOf, item, position));
        if (state.tag) state.tags.push(state.tag(item, position));
      }
      state.order.push(slot);
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
      items.push(item ?? batch.item(k));
      if (indices.length >= chunkSize) yield cut();
    }
  }
  state.slots.flush();
  // Every key has its slot now: the column's memory goes.
  state.column = undefined;
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
  column?: KeyColumn<T>,
): KeyedState<T> {
  return {
    column,
    ...settled,
    slots: dir === undefined ? KeySlots.memory() : KeySlots.open(dir),
    order: new OrderBuilder(),
    tags: column ? column.tags : [],
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
