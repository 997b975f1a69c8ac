/** The set of item indices already done: a bitset that grows as needed (1 bit per index). */
export class DoneSet implements Iterable<number> {
  #words: Uint32Array;
  #size = 0;

  constructor(capacity = 1024) {
    this.#words = new Uint32Array(Math.max(1, Math.ceil(capacity / 32)));
  }

  /** How many distinct indices are in the set. */
  get size(): number {
    return this.#size;
  }

  has(i: number): boolean {
    if (!isIndex(i)) return false;
    const word = this.#words[i >>> 5];
    return word !== undefined && (word & (1 << (i & 31))) !== 0;
  }

  /** Adds `i`; true if it was not there before. */
  add(i: number): boolean {
    if (!isIndex(i)) throw new RangeError(`A done index must be an integer from 0 to 2^32 - 1, got ${i}`);
    const w = i >>> 5;
    if (w >= this.#words.length) this.#grow(w + 1);
    const bit = 1 << (i & 31);
    const word = this.#words[w]!;
    if ((word & bit) !== 0) return false;
    this.#words[w] = word | bit;
    this.#size++;
    return true;
  }

  /** Indices in increasing order. */
  *[Symbol.iterator](): IterableIterator<number> {
    const words = this.#words;
    for (let w = 0; w < words.length; w++) {
      let word = words[w]!;
      while (word !== 0) {
        const low = word & -word;
        yield w * 32 + (31 - Math.clz32(low));
        word ^= low;
      }
    }
  }

  #grow(minWords: number): void {
    let length = this.#words.length;
    while (length < minWords) length *= 2;
    const words = new Uint32Array(length);
    words.set(this.#words);
    this.#words = words;
  }
}

function isIndex(i: number): boolean {
  return Number.isInteger(i) && i >= 0 && i <= 0xffff_ffff;
}
