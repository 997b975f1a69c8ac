import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Fingerprint, fingerprintFile, fingerprintValues } from '../../src/checkpoint/index.js';
import { tempDir } from './helpers.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('fingerprints', () => {
  it('fingerprintFile is the sha256 of the file bytes, however large', async () => {
    const path = join(await tempDir(), 'input.jsonl');
    const text = Array.from({ length: 60_000 }, (_, i) => `{"prompt":"item ${i} ✓"}\n`).join('');
    await writeFile(path, text);
    expect(await fingerprintFile(path)).toBe(sha256(text));
  });

  it('Fingerprint hashes the JSON of each item plus a newline, across its internal batches', () => {
    const items = Array.from({ length: 20_000 }, (_, i) => ({ i, text: `é${i}` }));
    const fingerprint = new Fingerprint();
    for (const item of items) fingerprint.update(item);
    expect(fingerprint.count).toBe(items.length);
    const expected = sha256(items.map((item) => `${JSON.stringify(item)}\n`).join(''));
    expect(fingerprint.digest()).toBe(expected);
    expect(fingerprintValues(items)).toBe(expected);
  });

  it('different items, order or count give a different fingerprint', () => {
    const base = fingerprintValues([1, 2, 3]);
    expect(fingerprintValues([1, 2, 3])).toBe(base);
    expect(fingerprintValues([1, 3, 2])).not.toBe(base);
    expect(fingerprintValues([1, 2])).not.toBe(base);
    expect(fingerprintValues(['1', 2, 3])).not.toBe(base);
    expect(fingerprintValues([[1, 2], 3])).not.toBe(fingerprintValues([1, [2, 3]]));
  });

  it('items JSON cannot hold still get a fingerprint', () => {
    expect(fingerprintValues([10n])).not.toBe(fingerprintValues(['10']));
    expect(fingerprintValues([undefined])).not.toBe(fingerprintValues([null]));
  });
});
