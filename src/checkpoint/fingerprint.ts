/** Fingerprints of the input, so a checkpoint is never resumed against different data. */

import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** sha256 (hex) of a file's bytes, streamed. */
export async function fingerprintFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
    hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

const BATCH_CHARS = 64 * 1024;

/** An incremental sha256 (hex) over items: the JSON of each item followed by '\n'. */
export class Fingerprint {
  readonly #hash: Hash = createHash('sha256');
  #pending = '';
  #count = 0;

  /** Items added so far. */
  get count(): number {
    return this.#count;
  }

  update(item: unknown): void {
    this.#pending += `${itemJson(item)}\n`;
    this.#count++;
    if (this.#pending.length >= BATCH_CHARS) {
      this.#hash.update(this.#pending, 'utf8');
      this.#pending = '';
    }
  }

  /** The fingerprint of every item added; the hasher cannot be used after. */
  digest(): string {
    this.#hash.update(this.#pending, 'utf8');
    this.#pending = '';
    return this.#hash.digest('hex');
  }
}

/** The fingerprint of all `values`, as `Fingerprint` computes it. */
export function fingerprintValues(values: Iterable<unknown>): string {
  const fingerprint = new Fingerprint();
  for (const value of values) fingerprint.update(value);
  return fingerprint.digest();
}

function itemJson(item: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(item);
  } catch {
    // BigInt: hash it in a form that cannot collide with a JSON string or number.
    json = JSON.stringify(item, (_key, v: unknown) =>
      typeof v === 'bigint' ? { $bigint: v.toString() } : v,
    );
  }
  return json ?? 'undefined';
}
