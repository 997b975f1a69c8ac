/**
 * config.json mistakes in words (issue 13), as a person sees them from the real command: a
 * trailing comma, a missing api_key with file, line and field, and no config at all, whose hint
 * shows the config inline (the installed package ships no example file).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, KEYS, tempDirs } from './helpers.js';

const tempDir = tempDirs();

describe('config errors in words', () => {
  it('a trailing comma: one line naming the file, line and column, exit 2', async () => {
    const dir = await tempDir();
    await writeFile(
      join(dir, 'config.json'),
      `{\n  "key_list": [\n    { "api_key": "${KEYS.good}" },\n  ]\n}\n`,
    );
    const result = await cli(['keys', '-c', 'config.json'], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'keybatch: config.json: not valid JSON: line 3, column 47: trailing comma (remove the "," before "]")\n',
    );
  });

  it('a missing api_key: "`api_key` is missing" with file, line and field', async () => {
    const dir = await tempDir();
    await writeFile(
      join(dir, 'config.json'),
      `{\n  "key_list": [\n    { "api_key": "${KEYS.good}" },\n    { "base_url": "http://127.0.0.1:9/v1" }\n  ]\n}\n`,
    );
    const result = await cli(['keys', '-c', 'config.json'], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('keybatch: config.json:4: key_list[1].api_key: `api_key` is missing\n');
  });

  it('a wrong type says what it must be and what it got', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'config.json'), `{"key_list": [{"api_key": 12345}]}`);
    const result = await cli(['keys', '-c', 'config.json'], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'keybatch: config.json:1: key_list[0].api_key: `api_key` must be a string, got a number\n',
    );
  });

  it('no config at all: the hint shows a config inline, not a file the package does not ship', async () => {
    const dir = await tempDir();
    const result = await cli(['keys'], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).not.toContain('config.example.json');
    expect(result.stderr).toContain(
      '{"key_list": [{"api_key": "sk-...", "base_url": "https://api.openai.com/v1"}]}',
    );
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
  });
});
