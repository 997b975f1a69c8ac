import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { parseConfig, resolveConfigSource } from '../../src/keys/config.js';

const SECRET = 'sk-test-config-SECRET-9z9z';

function problemOf(input: unknown): string {
  try {
    parseConfig(input as string, 'config.json');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('parses config.example.json', async () => {
    const text = await readFile(new URL('../../config.example.json', import.meta.url), 'utf8');
    const { config, warnings } = parseConfig(text, 'config.example.json');
    expect(warnings).toEqual([]);
    expect(config.keys).toHaveLength(5);
    expect(config.keys[1]).toMatchObject({ organization: 'org-replace-me', rpm: 500, tpm: 200000 });
    expect(config.keys[2]).toMatchObject({ baseUrl: 'https://proxy.example/v1', models: ['gpt-4o-mini'] });
    expect(config.keys[3]?.group).toBe('org-b');
    expect(config.notify).toEqual({ baseWaitTime: 30 });
  });

  it("accepts the earlier tools' minimal format", () => {
    const { config } = parseConfig({
      key_index: 1,
      key_list: [{ api_key: 'a-key-1' }, { api_key: 'a-key-2' }],
    });
    expect(config.keyIndex).toBe(1);
    expect(config.keys.map((k) => k.apiKey)).toEqual(['a-key-1', 'a-key-2']);
  });

  it.each([
    [{}, 'config.json: key_list:'],
    [{ key_list: [] }, 'config.json: key_list: must hold at least one key'],
    [{ key_list: 'sk-1' }, 'config.json: key_list: must be an array'],
    [{ key_list: [{}] }, 'config.json: key_list[0].api_key:'],
    [{ key_list: [{ api_key: '' }] }, 'config.json: key_list[0].api_key: must be a non-empty string'],
    [{ key_list: [{ api_key: 5 }] }, 'config.json: key_list[0].api_key:'],
    [
      { key_list: [{ api_key: 'k' }, { api_key: 'k2', base_url: 'not a url' }] },
      'key_list[1].base_url: must be an http(s) URL',
    ],
    [
      { key_list: [{ api_key: 'k', base_url: 'ftp://x/v1' }] },
      'key_list[0].base_url: must be an http(s) URL',
    ],
    [
      { key_list: [{ api_key: 'k', organization: '' }] },
      'key_list[0].organization: must be a non-empty string',
    ],
    [{ key_list: [{ api_key: 'k', name: 7 }] }, 'key_list[0].name:'],
    [{ key_list: [{ api_key: 'k', group: '' }] }, 'key_list[0].group: must be a non-empty string'],
    [{ key_list: [{ api_key: 'k', rpm: 0 }] }, 'key_list[0].rpm: must be a number > 0'],
    [{ key_list: [{ api_key: 'k', tpm: '100' }] }, 'key_list[0].tpm: must be a number'],
    [
      { key_list: [{ api_key: 'k', models: 'gpt-4o' }] },
      'key_list[0].models: must be an array of model names',
    ],
    [{ key_list: [{ api_key: 'k', models: [''] }] }, 'key_list[0].models[0]: must be a non-empty string'],
    [{ key_index: -1, key_list: [{ api_key: 'k' }] }, 'config.json: key_index:'],
    [{ key_index: 1.5, key_list: [{ api_key: 'k' }] }, 'config.json: key_index: must be a whole number >= 0'],
    [{ key_list: [{ api_key: 'k' }], notify: { lark: 'nope' } }, 'notify.lark: must be an http(s) URL'],
    [{ key_list: [{ api_key: 'k' }], notify: { slack: 'nope' } }, 'notify.slack: must be an http(s) URL'],
    [{ key_list: [{ api_key: 'k' }], notify: { webhook: 'nope' } }, 'notify.webhook: must be an http(s) URL'],
    [
      { key_list: [{ api_key: 'k' }], notify: { base_wait_time: -1 } },
      'notify.base_wait_time: must be a number > 0',
    ],
  ])('refuses %j naming the field', (input, expected) => {
    expect(problemOf(input)).toContain(expected);
  });

  it('reports every problem, not just the first', () => {
    try {
      parseConfig({ key_list: [{ api_key: '' }, { api_key: 'k', rpm: -5 }] }, 'config.json');
      expect.unreachable();
    } catch (error) {
      const problems = (error as ConfigError).problems;
      expect(problems).toHaveLength(2);
      expect(problems[0]).toContain('key_list[0].api_key');
      expect(problems[1]).toContain('key_list[1].rpm');
      // Few problems: every one on the one line.
      expect((error as ConfigError).message).toBe(problems.join('; '));
    }
    try {
      parseConfig({ key_list: Array.from({ length: 7 }, () => ({ api_key: '' })) }, 'config.json');
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigError).problems).toHaveLength(7);
      expect((error as ConfigError).message).toMatch(/key_list\[4\]\.api_key[^;]*\(and 2 more\)$/);
    }
  });

  it('suggests the field an unknown one is likely a typo of', () => {
    const { warnings } = parseConfig(
      { key_list: [{ api_key: 'k', baseurl: 'http://x', Organization: 'o', modles: [] }], key_idnex: 0 },
      'config.json',
    );
    expect(warnings).toEqual([
      'config.json: unknown field key_idnex (ignored; did you mean key_index?)',
      'config.json: unknown field key_list[0].baseurl (ignored; did you mean base_url?)',
      'config.json: unknown field key_list[0].Organization (ignored; did you mean organization?)',
      'config.json: unknown field key_list[0].modles (ignored; did you mean models?)',
    ]);
  });

  it('names the line and column of a JSON syntax error', () => {
    expect(problemOf('{\n  "key_list": [\n    { "api_key": "k" },\n  ]\n}')).toMatch(
      /^config\.json: not valid JSON: line 3, column 23: trailing comma \(remove the "," before "\]"\)$/,
    );
    expect(problemOf('{ "key_list": [ { "api_key": "k" }')).toMatch(
      /^config\.json: not valid JSON: line 1, /,
    );
    expect(problemOf('   ')).toBe('config.json: the file is empty');
  });

  it('warns about unknown fields instead of refusing them', () => {
    const { warnings } = parseConfig(
      { key_list: [{ api_key: 'k', colour: 'red' }], extra: 1, notify: { teams: 'x' } },
      'config.json',
    );
    expect(warnings).toEqual([
      'config.json: unknown field extra (ignored)',
      'config.json: unknown field notify.teams (ignored)',
      'config.json: unknown field key_list[0].colour (ignored)',
    ]);
  });

  it('warns about a repeated key and a key_index past the end, showing keys redacted', () => {
    const { config, warnings } = parseConfig({
      key_index: 4,
      key_list: [{ api_key: SECRET }, { api_key: SECRET }],
    });
    expect(config.keyIndex).toBe(0);
    expect(warnings.join('\n')).toContain('key_list[1] repeats the key of key_list[0] (sk-…9z9z)');
    expect(warnings.join('\n')).toContain('key_index 4 is past the end');
    expect(warnings.join('\n')).not.toContain(SECRET);
  });

  it('never echoes a key in a problem', () => {
    expect(problemOf({ key_list: [{ api_key: SECRET, rpm: 'fast' }] })).not.toContain(SECRET);
  });

  it("refuses a key or organization an HTTP header cannot carry, naming it redacted (keybatch's own redacted form too)", () => {
    expect(problemOf({ key_list: [{ api_key: SECRET }, { api_key: 'sk-…abcd' }] })).toBe(
      "config.json: key_list[1].api_key (sk-…abcd) has a character an HTTP header cannot carry (U+2026 at position 4); paste the full key, not keybatch's redacted form",
    );
    const broken = `${SECRET.slice(0, 10)}\n${SECRET.slice(10)}`;
    const message = problemOf({ key_list: [{ api_key: broken }] });
    expect(message).toBe(
      'config.json: key_list[0].api_key (sk-…9z9z) has a character an HTTP header cannot carry (U+000A at position 11); keys and organizations are visible ASCII only (no spaces or line breaks)',
    );
    expect(message).not.toContain(SECRET.slice(0, 10));
    expect(problemOf({ key_list: [{ api_key: SECRET, organization: 'org-café' }] })).toBe(
      'config.json: key_list[0].organization (sk-…9z9z) has a character an HTTP header cannot carry (U+00E9 at position 8); keys and organizations are visible ASCII only (no spaces or line breaks)',
    );
    expect(problemOf({ key_list: [{ api_key: 'sk-with space-0000' }] })).toContain('(U+0020 at position 8)');
    // Reported with every other problem, and the spaces a paste leaves around a key are fine.
    const error = (() => {
      try {
        parseConfig({ key_list: [{ api_key: 'sk-…abcd', rpm: 'x' }] }, 'config.json');
      } catch (caught) {
        return caught as ConfigError;
      }
      throw new Error('expected a ConfigError');
    })();
    expect(error.problems).toHaveLength(2);
    expect(parseConfig({ key_list: [{ api_key: ` ${SECRET}\n` }] }).config.keys[0]?.apiKey).toBe(SECRET);
  });

  it('shows an unknown field whose name is a key redacted', () => {
    const pasted = 'sk-proj-Ab3De5Fg7Hj9Kl1Mn3Pq5Rs7';
    const { warnings } = parseConfig(
      {
        key_list: [{ api_key: SECRET, [SECRET]: true, [`${SECRET.slice(0, -1)}_old`]: 1 }],
        [pasted]: true,
        Zq8Wm2Xr4Tn6Yp0Lk3Jh5Gf7: 1,
      },
      'config.json',
    );
    const text = warnings.join('\n');
    expect(text).not.toContain(SECRET.slice(0, 12));
    expect(text).not.toContain(pasted.slice(8, 20));
    expect(text).not.toContain('Zq8Wm2Xr4Tn6');
    expect(warnings).toEqual([
      'config.json: unknown field sk-…5Rs7 (ignored)',
      'config.json: unknown field sk-…5Gf7 (ignored)',
      'config.json: unknown field key_list[0].sk-…9z9z (ignored)',
      'config.json: unknown field key_list[0].sk-…_old (ignored)',
    ]);
  });
});

describe('resolveConfigSource', () => {
  const none = async () => false;
  it('prefers an explicit path, then KEYBATCH_CONFIG, then ./config.json', async () => {
    expect(await resolveConfigSource('my.json', {}, none)).toEqual({ path: 'my.json' });
    expect(await resolveConfigSource(undefined, { KEYBATCH_CONFIG: 'env.json' }, none)).toEqual({
      path: 'env.json',
    });
    expect(await resolveConfigSource(undefined, {}, async () => true)).toEqual({ path: 'config.json' });
  });

  it('falls back to OPENAI_API_KEY and OPENAI_BASE_URL as a one-key pool', async () => {
    const source = await resolveConfigSource(
      undefined,
      { OPENAI_API_KEY: SECRET, OPENAI_BASE_URL: 'http://127.0.0.1:1/v1' },
      none,
    );
    expect(source.parsed?.config.keys).toEqual([{ apiKey: SECRET, baseUrl: 'http://127.0.0.1:1/v1' }]);
  });

  it('without any config says how to make one', async () => {
    await expect(resolveConfigSource(undefined, {}, none)).rejects.toMatchObject({
      code: 'CONFIG_MISSING',
      message: expect.stringContaining('OPENAI_API_KEY is not set'),
    });
  });
});
