/**
 * `order.bin` of a content-keyed run directory: the slot of each input position of the latest
 * run whose input was read to its end (4 bytes per position, little-endian). The merge writes
 * position p from slot order[p]; `status` counts positions through it. Written whole to a temporary
 * file and renamed, so a reader sees the old order or the new one, never half.
 */
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkpointWriteError } from './write-error.js';

export const ORDER_FILE = 'order.bin';

/** The order of `dir`, or undefined when the run directory is not content-keyed (or its input was never read whole). */
export async function readOrder(dir: string): Promise<Uint32Array | undefined> {
  let data: Buffer;
  try {
    data = await readFile(join(dir, ORDER_FILE));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const order = new Uint32Array(Math.floor(data.length / 4));
  for (let p = 0; p < order.length; p++) order[p] = data.readUInt32LE(p * 4);
  return order;
}

/** Writes the slot of each of the first `total` positions. */
export async function writeOrder(dir: string, order: Uint32Array, total: number): Promise<void> {
  const path = join(dir, ORDER_FILE);
  const temp = `${path}.tmp-${process.pid}`;
  const bytes = Buffer.alloc(total * 4);
  for (let p = 0; p < total; p++) bytes.writeUInt32LE(order[p]!, p * 4);
  try {
    await writeFile(temp, bytes);
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw checkpointWriteError(path, error);
  }
}

/** A growing list of slots by position. */
export class OrderBuilder {
  #slots = new Uint32Array(1024);
  #length = 0;

  get length(): number {
    return this.#length;
  }

  get slots(): Uint32Array {
    return this.#slots;
  }

  push(slot: number): void {
    if (this.#length === this.#slots.length) {
      const bigger = new Uint32Array(this.#slots.length * 2);
      bigger.set(this.#slots);
      this.#slots = bigger;
    }
    this.#slots[this.#length++] = slot;
  }
}
