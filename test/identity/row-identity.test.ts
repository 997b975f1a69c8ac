import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson, namespaceOf, rowIdentity } from '../../src/identity/index.js';
import { createPrng } from '../../src/sim/faults.js';

/** The canonical JSON as first written (arrays of parts joined per level): the reference the faster one must match. */
function reference(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const toJson = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJson === 'function') return reference(toJson.call(value));
  if (Array.isArray(value)) return `[${value.map((item) => reference(item) ?? 'null').join(',')}]`;
  const record = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(record).sort()) {
    const text = reference(record[key]);
    if (text !== undefined) parts.push(`${JSON.stringify(key)}:${text}`);
  }
  return `{${parts.join(',')}}`;
}

/** A deterministic generator (the simulator's mulberry32): the same draws on every run. */
const random = createPrng;

const LEAVES: unknown[] = [
  0,
  -0,
  1.5,
  1e21,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  true,
  false,
  null,
  undefined,
  '',
  'a\n"\\',
  'é 日本 🎉',
  '\ud800',
  () => 1,
  new Date(0),
  { toJSON: () => ({ b: 2, a: 1 }) },
];
const KEYS = ['a', 'b', 'B', 'é', 'role', 'content', '10', '2', '', 'a"b', '\u0000', '🎉'];

/** A random JSON-like value: objects with keys in random order, arrays, and every kind of leaf. */
function draw(next: () => number, depth: number): unknown {
  const pick = <X>(list: X[]): X => list[Math.floor(next() * list.length)]!;
  const kind = depth > 3 ? 0 : Math.floor(next() * 3);
  if (kind === 0) return pick(LEAVES);
  const size = Math.floor(next() * 5);
  if (kind === 1) return Array.from({ length: size }, () => draw(next, depth + 1));
  const record: Record<string, unknown> = {};
  for (let k = 0; k < size; k++) record[pick(KEYS)] = draw(next, depth + 1);
  return record;
}

const base = {
  namespace: 'api.openai.com/v1',
  endpoint: 'chat',
  body: { model: 'm', messages: [{ role: 'user', content: 'hi' }] },
};

describe('row identity', () => {
  it('canonical JSON sorts keys at every depth, keeps array order, drops undefined members like JSON', () => {
    const value = { b: 1, a: { d: [3, { z: 1, y: undefined }], c: 'x' }, u: undefined };
    expect(canonicalJson(value)).toBe('{"a":{"c":"x","d":[3,{"z":1}]},"b":1}');
    expect(JSON.parse(canonicalJson(value))).toEqual(JSON.parse(JSON.stringify(value)));
    expect(canonicalJson([undefined, 'a\n"'])).toBe(JSON.stringify([null, 'a\n"']));
  });

  it('canonical JSON is the same text as the reference over 3,000 random values', () => {
    const next = random(20261208);
    for (let n = 0; n < 3000; n++) {
      const value = draw(next, 0);
      expect(canonicalJson(value), `draw ${n}`).toBe(reference(value) ?? 'null');
    }
  });

  it('an identity is the sha256 of the canonical request, byte for byte (checkpoints and caches made before still match)', () => {
    const text =
      '{"body":{"messages":[{"content":"hi","role":"user"}],"model":"m"},"endpoint":"chat","files":[],"namespace":"api.openai.com/v1","sample":0,"v":1}';
    expect(rowIdentity(base)).toBe(createHash('sha256').update(text, 'utf8').digest('hex'));
  });

  it('is the same for the same request whatever the key order, and differs for each part', () => {
    const id = rowIdentity(base);
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(rowIdentity({ ...base, body: { messages: base.body.messages, model: 'm' } })).toBe(id);
    const others = [
      { ...base, namespace: 'api.other.ai/v1' },
      { ...base, endpoint: 'responses' },
      { ...base, body: { ...base.body, model: 'n' } },
      { ...base, body: { ...base.body, temperature: 0 } },
      { ...base, files: [['a.md', null]] as Array<[string, string | null]> },
      { ...base, sample: 1 },
    ];
    for (const other of others) expect(rowIdentity(other)).not.toBe(id);
  });

  it('the namespace is the providers of the base URLs, not their scheme, credentials or trailing slash', () => {
    expect(namespaceOf(['https://api.openai.com/v1/', 'http://API.openai.com/v1'], 'x')).toBe(
      'api.openai.com/v1',
    );
    expect(namespaceOf([undefined, 'http://127.0.0.1:9/v1'], 'https://api.openai.com/v1')).toBe(
      '127.0.0.1:9/v1 api.openai.com/v1',
    );
  });
});
