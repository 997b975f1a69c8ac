/**
 * Content-keyed checkpoints: each distinct item key gets a slot, a number that never changes for
 * the run directory's life, and lane files record results by slot instead of by input position.
 * `keys.bin` holds the slots' keys in slot order, 16 bytes each (the first half of the key's
 * sha256: at 2^32 keys a collision has odds of 2^-64; a key that is already a sha256 in hex, a row
 * identity, gives its own first 16 bytes). A new key is appended before any record can name its
 * slot (`flush` runs before its chunk is handed out), so after a kill every slot a lane file names
 * is in `keys.bin`; a cut last entry is dropped on open.
 *
 * In memory: the keys' bytes as they are in the file (read as 32-bit words) and an open-addressing
 * table of slot numbers, 16 + 8 bytes per key at most; a key string is hashed in place
 * (`sha256Words`) with nothing allocated, so a run of millions of rows opens and plans in seconds.
 */
import { closeSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { sha256Words } from './sha256.js';
import { checkpointWriteError } from './write-error.js';

export const KEYS_FILE = 'keys.bin';
/** Bytes of a key kept: half a sha256 (see the file comment). */
const KEY_BYTES = 16;
const WORDS = KEY_BYTES / 4;
/** 32-bit words of a key made by `keyWords`. */
export const KEY_WORDS = WORDS;
/** The table is kept at most half full, so a lookup probes about 1.5 entries on average. */
const MAX_LOAD = 0.5;
/** Hex characters of a sha256. */
const SHA256_HEX_LENGTH = 64;

/** Words are kept in the machine's byte order, so their bytes in memory are the key's bytes in `keys.bin`. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** A big-endian word (as a digest reads) as the native word over the same 4 bytes. */
function nativeWord(bigEndian: number): number {
  if (!LITTLE_ENDIAN) return bigEndian >>> 0;
  const x = bigEndian;
  return (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
}

/** The value of hex digit `c` (a char code), -1 if it is not one of 0-9 a-f. */
function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/**
 * Writes the 16-byte key of `itemKey` into `out` from `offset` as native words: the key's own first 16 bytes
 * when it is a sha256 in lowercase hex (a row identity), else the first 16 bytes of its sha256.
 */
export function keyWords(itemKey: string, out: Uint32Array, offset = 0): void {
  if (itemKey.length === SHA256_HEX_LENGTH && hexKeyWords(itemKey, out, offset)) return;
  const digest = sha256Words(itemKey);
  for (let w = 0; w < WORDS; w++) out[offset + w] = nativeWord(digest[w]!);
}

/** `keyWords` of a key of 64 characters; false (and `out` unusable) when one is not lowercase hex. */
function hexKeyWords(itemKey: string, out: Uint32Array, offset: number): boolean {
  // Every character is checked, not only the 32 used: "hex" means the whole key is.
  for (let k = 2 * KEY_BYTES; k < SHA256_HEX_LENGTH; k++)
    if (hexDigit(itemKey.charCodeAt(k)) < 0) return false;
  for (let w = 0; w < WORDS; w++) {
    let word = 0;
    for (let k = 8 * w; k < 8 * w + 8; k++) {
      const digit = hexDigit(itemKey.charCodeAt(k));
      if (digit < 0) return false;
      word = (word << 4) | digit;
    }
    out[offset + w] = nativeWord(word);
  }
  return true;
}

export class KeySlots {
  #words: Uint32Array;
  #count = 0;
  /** slot + 1 at each used entry, 0 where empty. */
  #table: Int32Array;
  /** Keys added since the last flush (their slots are `#flushed`..`#count - 1`). */
  #flushed = 0;
  /** undefined: kept in memory only (a run without a checkpoint). */
  readonly #path: string | undefined;
  /** The key being looked up (reused: nothing is allocated per key). */
  readonly #key = new Uint32Array(WORDS);
  /**
   * The slot after the last one looked up, tried before the table: an input read again in the
   * same order (a resume) asks for slots in the order they were made, so its keys are compared in
   * sequence through memory instead of each costing two random reads (the table, then the key).
   */
  #next = 0;

  private constructor(path: string | undefined, data: Buffer) {
    this.#path = path;
    const count = Math.floor(data.length / KEY_BYTES);
    this.#words = new Uint32Array(Math.max(1024, count * 2) * WORDS);
    new Uint8Array(this.#words.buffer).set(data.subarray(0, count * KEY_BYTES));
    this.#table = new Int32Array(tableSize(count));
    for (let slot = 0; slot < count; slot++) this.#insert(slot);
    this.#count = count;
    this.#flushed = count;
  }

  /** Reads `<dir>/keys.bin` (none: no slots yet); a cut last entry (a kill mid-append) is cut off. */
  static open(dir: string): KeySlots {
    const path = join(dir, KEYS_FILE);
    let data: Buffer;
    try {
      data = readFileSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      data = Buffer.alloc(0);
    }
    const whole = data.length - (data.length % KEY_BYTES);
    if (whole !== data.length) {
      const fd = openSync(path, 'r+');
      try {
        ftruncateSync(fd, whole);
      } finally {
        closeSync(fd);
      }
    }
    return new KeySlots(path, data.subarray(0, whole));
  }

  /** Slots for a run without a checkpoint: nothing is written. */
  static memory(): KeySlots {
    return new KeySlots(undefined, Buffer.alloc(0));
  }

  /** Slots known (every slot is below it). */
  get size(): number {
    return this.#count;
  }

  /** The slot of an item key, made if new (written at the next `flush`). */
  slotOf(itemKey: string): number {
    keyWords(itemKey, this.#key);
    return this.slotOfWords(this.#key, 0);
  }

  /** As `slotOf`, for a key already made by `keyWords`: the `KEY_WORDS` words of `words` from `offset`. */
  slotOfWords(words: Uint32Array, offset: number): number {
    const next = this.#next;
    const found = this.#sameAs(next, words, offset) ? next : this.#find(words, offset);
    if (found >= 0) {
      this.#next = found + 1;
      return found;
    }
    if (this.#count + 1 > this.#table.length * MAX_LOAD) this.#rehash();
    if ((this.#count + 1) * WORDS > this.#words.length) {
      const bigger = new Uint32Array(this.#words.length * 2);
      bigger.set(this.#words);
      this.#words = bigger;
    }
    const slot = this.#count++;
    for (let w = 0; w < WORDS; w++) this.#words[slot * WORDS + w] = words[offset + w]!;
    this.#insert(slot);
    this.#next = slot + 1;
    return slot;
  }

  /** Appends the keys made since the last flush to `keys.bin` (synchronously: before any record names them). */
  flush(): void {
    if (this.#flushed === this.#count || this.#path === undefined) return;
    const bytes = Buffer.from(
      this.#words.buffer,
      this.#words.byteOffset + this.#flushed * KEY_BYTES,
      (this.#count - this.#flushed) * KEY_BYTES,
    );
    try {
      const fd = openSync(this.#path, 'a');
      try {
        for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done);
      } finally {
        closeSync(fd);
      }
    } catch (error) {
      throw checkpointWriteError(this.#path, error);
    }
    this.#flushed = this.#count;
  }

  /** Whether `slot` exists and its key is the one at `offset` of `key`. */
  #sameAs(slot: number, key: Uint32Array, offset: number): boolean {
    if (slot >= this.#count) return false;
    const base = slot * WORDS;
    const words = this.#words;
    return (
      words[base] === key[offset] &&
      words[base + 1] === key[offset + 1] &&
      words[base + 2] === key[offset + 2] &&
      words[base + 3] === key[offset + 3]
    );
  }

  /** The slot whose key is `key` (its `WORDS`, 4, words compared one by one), -1 if none. */
  #find(key: Uint32Array, offset: number): number {
    const words = this.#words;
    const mask = this.#table.length - 1;
    const k0 = key[offset]!;
    const k1 = key[offset + 1]!;
    const k2 = key[offset + 2]!;
    const k3 = key[offset + 3]!;
    for (let at = k0 & mask; ; at = (at + 1) & mask) {
      const entry = this.#table[at]!;
      if (entry === 0) return -1;
      const base = (entry - 1) * WORDS;
      if (words[base] === k0 && words[base + 1] === k1 && words[base + 2] === k2 && words[base + 3] === k3)
        return entry - 1;
    }
  }

  #insert(slot: number): void {
    const mask = this.#table.length - 1;
    let at = this.#words[slot * WORDS]! & mask;
    while (this.#table[at] !== 0) at = (at + 1) & mask;
    this.#table[at] = slot + 1;
  }

  #rehash(): void {
    this.#table = new Int32Array(this.#table.length * 2);
    for (let slot = 0; slot < this.#count; slot++) this.#insert(slot);
  }
}

/** A power of two at least `count / MAX_LOAD`, and at least 1024. */
function tableSize(count: number): number {
  let size = 1024;
  while (size * MAX_LOAD < count + 1) size *= 2;
  return size;
}
