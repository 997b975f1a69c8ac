/**
 * SHA-256 of a string's UTF-8 bytes, in JavaScript, for the many short keys of a content-keyed
 * run. Node's `createHash` costs several microseconds per call however short the input (an
 * object, a native call per step, a Buffer for the digest), which made hashing 1M item keys the
 * largest part of a resume; this runs the compression function in place over one reused buffer and
 * allocates nothing per call. The digest is the standard one, byte for byte (checked against
 * `node:crypto` in test/checkpoint/sha256.test.ts): `keys.bin` files written before stay valid.
 */

/** The round constants (FIPS 180-4, 4.2.2). */
const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);

/** The initial hash value (FIPS 180-4, 5.3.3). */
const IV = new Int32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);

/** A block is 64 bytes; padding adds 0x80 and an 8-byte length, so 72 bytes beyond the message always suffice. */
const PAD_BYTES = 72;
/** UTF-8 takes at most 3 bytes per UTF-16 code unit (a surrogate pair: 4 bytes for 2 units). */
const UTF8_PER_UNIT = 3;

const schedule = new Int32Array(64);
const state = new Int32Array(8);
let message = new Uint8Array(1024);
const utf8 = new TextEncoder();

/** Writes `text` as UTF-8 at the start of `message` (grown if needed); its byte length. */
function encode(text: string): number {
  const most = text.length * UTF8_PER_UNIT + PAD_BYTES;
  if (message.length < most) message = new Uint8Array(2 * most);
  const bytes = message;
  // ASCII, the usual key, is copied by hand: cheaper than a native call for a short string.
  for (let k = 0; k < text.length; k++) {
    const c = text.charCodeAt(k);
    if (c >= 0x80) return utf8.encodeInto(text, bytes).written;
    bytes[k] = c;
  }
  return text.length;
}

/** Appends 0x80, zeros and the bit length after `length` bytes; the padded length (a multiple of 64). */
function pad(length: number): number {
  const total = ((length + 9 + 63) >> 6) << 6;
  const bytes = message;
  bytes[length] = 0x80;
  // By hand: a native fill or write call costs more than these few bytes.
  for (let k = length + 1; k < total - 8; k++) bytes[k] = 0;
  const high = Math.floor(length / 0x2000_0000);
  const low = (length * 8) >>> 0;
  for (let k = 0; k < 4; k++) {
    bytes[total - 8 + k] = (high >>> (24 - 8 * k)) & 0xff;
    bytes[total - 4 + k] = (low >>> (24 - 8 * k)) & 0xff;
  }
  return total;
}

/** Runs the compression function over the 64-byte block at `offset` into `state`. */
function compress(offset: number): void {
  const w = schedule;
  const m = message;
  for (let i = 0; i < 16; i++) {
    const o = offset + 4 * i;
    w[i] = (m[o]! << 24) | (m[o + 1]! << 16) | (m[o + 2]! << 8) | m[o + 3]!;
  }
  for (let i = 16; i < 64; i++) {
    const x = w[i - 15]!;
    const y = w[i - 2]!;
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0;
  }
  let a = state[0]!;
  let b = state[1]!;
  let c = state[2]!;
  let d = state[3]!;
  let e = state[4]!;
  let f = state[5]!;
  let g = state[6]!;
  let h = state[7]!;
  for (let i = 0; i < 64; i++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + s1 + ((e & f) ^ (~e & g)) + K[i]! + w[i]!) | 0;
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  state[0] = (state[0]! + a) | 0;
  state[1] = (state[1]! + b) | 0;
  state[2] = (state[2]! + c) | 0;
  state[3] = (state[3]! + d) | 0;
  state[4] = (state[4]! + e) | 0;
  state[5] = (state[5]! + f) | 0;
  state[6] = (state[6]! + g) | 0;
  state[7] = (state[7]! + h) | 0;
}

/**
 * The SHA-256 of `text` (as UTF-8, lone surrogates as U+FFFD, as `createHash().update(text)`):
 * its 8 words, big-endian as the digest reads. The array is reused by the next call: copy what is kept.
 */
export function sha256Words(text: string): Int32Array {
  const total = pad(encode(text));
  state.set(IV);
  for (let offset = 0; offset < total; offset += 64) compress(offset);
  return state;
}
