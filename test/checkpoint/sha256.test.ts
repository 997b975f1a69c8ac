import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha256Words } from '../../src/checkpoint/sha256.js';
import { createPrng } from '../../src/sim/faults.js';

/** The digest `sha256Words` gives, as hex. */
function hexOf(text: string): string {
  const bytes = Buffer.alloc(32);
  for (const [w, word] of sha256Words(text).entries()) bytes.writeInt32BE(word, 4 * w);
  return bytes.toString('hex');
}

const nodeHex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** A deterministic generator (the simulator's mulberry32): the same draws on every run. */
const random = createPrng;

describe('sha256Words', () => {
  it('gives the standard digest of the test vectors', () => {
    expect(hexOf('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(hexOf('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(hexOf('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
  });

  it('matches node:crypto at every length around the block and padding boundaries', () => {
    for (let length = 0; length <= 200; length++) {
      const text = 'x'.repeat(length);
      expect(hexOf(text), `length ${length}`).toBe(nodeHex(text));
    }
  });

  it('matches node:crypto on UTF-8 text: accents, CJK, emoji, and lone surrogates (U+FFFD)', () => {
    const texts = ['é', 'naïve café', '日本語のキー', 'emoji 🎉 key', '\ud800', 'a\udc00b', 'ascii then é'];
    for (const text of texts) expect(hexOf(text), JSON.stringify(text)).toBe(nodeHex(text));
  });

  it('matches node:crypto on 2,000 random strings of random length and alphabet', () => {
    const next = random(20261208);
    const alphabets = [0x7f, 0x7ff, 0xffff];
    for (let n = 0; n < 2000; n++) {
      const length = Math.floor(next() * 300);
      const top = alphabets[n % alphabets.length]!;
      let text = '';
      for (let k = 0; k < length; k++) text += String.fromCharCode(Math.floor(next() * top));
      expect(hexOf(text), `draw ${n}`).toBe(nodeHex(text));
    }
  });

  it('matches node:crypto on a long key (many blocks, a grown buffer) and on short keys after it', () => {
    const long = 'long key '.repeat(10_000);
    expect(hexOf(long)).toBe(nodeHex(long));
    expect(hexOf('short')).toBe(nodeHex('short'));
  });
});
