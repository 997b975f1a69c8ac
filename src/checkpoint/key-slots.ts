/**
 * Content-keyed checkpoints: each distinct item key gets a slot, a number that never changes for
 * the run directory's life, and lane files record results by slot instead of by input position.
 * `keys.bin` holds the slots' keys in slot order, 16 bytes each (the first half of the key's
 * sha256: at 2^32 keys a collision has odds of 2^-64). A new key is appended before any record
 * can name its slot (`flush` runs before its chunk is handed out), so after a kill every slot a
 * lane file names is in `keys.bin`; a cut last entry is dropped on open.
 *
 * In memory: the keys as 32-bit words and an open-addressing table of slot numbers, 16 + 8 bytes
 * per key at most, so a run of millions of rows opens in well under a second.
 */
import { createHash } from 'node:crypto';
import { closeSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { checkpointWriteError } from './write-error.js';

export const KEYS_FILE = 'keys.bin';
/** Bytes of a key kept: half a sha256 (see the file comment). */
const KEY_BYTES = 16;
const WORDS = KEY_BYTES / 4;
/** The table is kept at most half full, so a lookup probes about 1.5 entries on average. */
const MAX_LOAD = 0.5;

/** A key that is already a sha256 in hex (a row identity): its bytes are used as they are. */
const SHA256_HEX = /^[0-9a-f]{64}$/;

/** The 16-byte key of an item key string. */
export function keyBytes(itemKey: string): Buffer {
  if (itemKey.length === 64 && SHA256_HEX.test(itemKey))
    return Buffer.from(itemKey.slice(0, 2 * KEY_BYTES), 'hex');
  return createHash('sha256').update(itemKey, 'utf8').digest().subarray(0, KEY_BYTES);
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

  private constructor(path: string | undefined, data: Buffer) {
    this.#path = path;
    const count = Math.floor(data.length / KEY_BYTES);
    this.#words = new Uint32Array(Math.max(1024, count * 2) * WORDS);
    this.#table = new Int32Array(tableSize(count));
    for (let slot = 0; slot < count; slot++) {
      for (let w = 0; w < WORDS; w++)
        this.#words[slot * WORDS + w] = data.readUInt32LE(slot * KEY_BYTES + w * 4);
      this.#insert(slot);
    }
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

  /** The slot of a key from `keyBytes`, made if new (written at the next `flush`). */
  slotOf(key: Buffer): number {
    const found = this.#find(key);
    if (found >= 0) return found;
    if (this.#count + 1 > this.#table.length * MAX_LOAD) this.#rehash();
    if ((this.#count + 1) * WORDS > this.#words.length) {
      const words = new Uint32Array(this.#words.length * 2);
      words.set(this.#words);
      this.#words = words;
    }
    const slot = this.#count++;
    for (let w = 0; w < WORDS; w++) this.#words[slot * WORDS + w] = key.readUInt32LE(w * 4);
    this.#insert(slot);
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

  #find(key: Buffer): number {
    const mask = this.#table.length - 1;
    const w0 = key.readUInt32LE(0);
    for (let at = w0 & mask; ; at = (at + 1) & mask) {
      const entry = this.#table[at]!;
      if (entry === 0) return -1;
      const base = (entry - 1) * WORDS;
      let same = true;
      for (let w = 0; w < WORDS; w++) {
        if (this.#words[base + w] !== key.readUInt32LE(w * 4)) {
          same = false;
          break;
        }
      }
      if (same) return entry - 1;
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
