import { createHash } from 'node:crypto';
import { appendFile, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KEYS_FILE, KeySlots } from '../../src/checkpoint/key-slots.js';
import { tempDir } from './helpers.js';

/** The 16 bytes `keys.bin` holds for a key that is not a sha256 in hex: its sha256's first half. */
const hashedKey = (key: string) => createHash('sha256').update(key, 'utf8').digest().subarray(0, 16);

/** A row identity (64 lowercase hex) whose first 16 bytes are `head` (32 hex) and the rest `tail`. */
const identity = (head: string, tail = '0'.repeat(32)) => `${head}${tail}`;

describe('KeySlots', () => {
  it('gives each distinct key its own slot and the same key the same slot', () => {
    const slots = KeySlots.memory();
    expect(slots.slotOf('a')).toBe(0);
    expect(slots.slotOf('b')).toBe(1);
    expect(slots.slotOf('a')).toBe(0);
    expect(slots.size).toBe(2);
  });

  it('writes each key as the first 16 bytes of its sha256, and a row identity as its own first 16 bytes', async () => {
    const dir = await tempDir();
    const slots = KeySlots.open(dir);
    const id = createHash('sha256').update('a request').digest('hex');
    slots.slotOf('prompt 1');
    slots.slotOf('日本語 🎉');
    slots.slotOf(id);
    slots.flush();
    const written = await readFile(join(dir, KEYS_FILE));
    expect(written).toEqual(
      Buffer.concat([hashedKey('prompt 1'), hashedKey('日本語 🎉'), Buffer.from(id.slice(0, 32), 'hex')]),
    );
  });

  it('a 64-character key that is not lowercase hex is hashed, not read as hex', async () => {
    const dir = await tempDir();
    const slots = KeySlots.open(dir);
    const upper = 'A'.repeat(64);
    const late = `${'a'.repeat(63)}g`;
    slots.slotOf(upper);
    slots.slotOf(late);
    slots.flush();
    expect(await readFile(join(dir, KEYS_FILE))).toEqual(Buffer.concat([hashedKey(upper), hashedKey(late)]));
  });

  it('keys that share their first bytes but differ in any later word are different slots', () => {
    const slots = KeySlots.memory();
    const base = '0123456789abcdef0123456789abcdef';
    // Each differs from `base` in one 4-byte word of the 16 kept (the first word picks the bucket).
    const variants = [0, 8, 16, 24].map((at) => `${base.slice(0, at)}ffffffff${base.slice(at + 8)}`);
    const seen = new Set([slots.slotOf(identity(base)), ...variants.map((v) => slots.slotOf(identity(v)))]);
    expect(seen.size).toBe(5);
    // Only the first 16 bytes are kept: a row identity differing beyond them is the same key.
    expect(slots.slotOf(identity(base, 'f'.repeat(32)))).toBe(slots.slotOf(identity(base)));
  });

  it('the slot after the last one found is taken only when its key matches in every word', () => {
    const slots = KeySlots.memory();
    const a = '0123456789abcdef0123456789abcdef';
    const b = `${a.slice(0, 24)}ffffffff`; // a with its last word changed
    const c = `${b.slice(0, 8)}eeeeeeee${b.slice(16)}`; // b with its second word changed
    expect(slots.slotOf(identity(a))).toBe(0);
    expect(slots.slotOf(identity(b))).toBe(1);
    expect(slots.slotOf(identity(a))).toBe(0);
    // Slot 1 comes next, and shares c's first word: c is still a new key.
    expect(slots.slotOf(identity(c))).toBe(2);
    expect(slots.slotOf(identity(b))).toBe(1);
  });

  it('reopened, gives every key the slot it had, over many keys (the table grown several times)', async () => {
    const dir = await tempDir();
    const count = 50_000;
    const first = KeySlots.open(dir);
    for (let k = 0; k < count; k++)
      if (first.slotOf(`item ${k}`) !== k) throw new Error(`item ${k}: not slot ${k}`);
    first.flush();
    const again = KeySlots.open(dir);
    expect(again.size).toBe(count);
    // In the order they were made (a resume of the same input), then backwards.
    for (let k = 0; k < count; k++)
      if (again.slotOf(`item ${k}`) !== k) throw new Error(`item ${k}: not slot ${k}`);
    for (let k = count - 1; k >= 0; k--)
      if (again.slotOf(`item ${k}`) !== k) throw new Error(`item ${k}: not slot ${k}`);
    expect(again.slotOf('a new item')).toBe(count);
    expect(again.slotOf('item 0')).toBe(0);
  });

  it('a cut last entry of keys.bin (a kill mid-append) is cut off on open', async () => {
    const dir = await tempDir();
    const slots = KeySlots.open(dir);
    slots.slotOf('kept');
    slots.flush();
    await appendFile(join(dir, KEYS_FILE), Buffer.from('half a key'));
    const reopened = KeySlots.open(dir);
    expect(reopened.size).toBe(1);
    expect((await stat(join(dir, KEYS_FILE))).size).toBe(16);
    expect(reopened.slotOf('kept')).toBe(0);
    expect(reopened.slotOf('next')).toBe(1);
  });
});
