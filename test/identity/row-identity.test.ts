import { describe, expect, it } from 'vitest';
import { canonicalJson, namespaceOf, rowIdentity } from '../../src/identity/index.js';

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
