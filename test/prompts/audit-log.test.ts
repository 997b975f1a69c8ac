import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runPrompts } from '../../src/prompts/index.js';
import { KEYS, MODEL, usePromptSetup } from './helpers.js';

const setup = usePromptSetup();

describe('runPrompts audit log', () => {
  it('writes one line per HTTP attempt with redacted keys, and no full key anywhere in it', async () => {
    const s = await setup();
    const logDir = join(s.dir, 'logs');
    const leaky = `my key is ${KEYS[0]} and ${KEYS[1]}`;
    const prompts = [
      { prompt: 'plain' },
      { prompt: 'retried [[sim:500x1]]' },
      { prompt: 'dropped [[sim:dropx1]]' },
      { prompt: 'refused [[sim:400]]' },
      { prompt: leaky },
    ];
    await runPrompts(s.config, prompts, s.options({ logDir }));

    const files = await readdir(logDir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^keybatch-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}Z\.jsonl$/);
    const text = await readFile(join(logDir, files[0]!), 'utf8');
    for (const key of KEYS) expect(text).not.toContain(key);
    expect(s.logger.text()).not.toMatch(/sk-test-prompts-(alpha|bravo)/);

    const lines = text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    // 5 prompts: one 500 and one dropped connection each retried once.
    expect(lines).toHaveLength(7);
    expect(lines).toHaveLength(s.sim.requests().length);
    for (const line of lines) {
      expect(Object.keys(line).slice(0, 12)).toEqual([
        'time',
        'id',
        'key',
        'model',
        'method',
        'path',
        'attempt',
        'status',
        'outcome',
        'code',
        'latency_ms',
        'request',
      ]);
      expect(['sk-…0001', 'sk-…0002']).toContain(line['key']);
      expect(line).toMatchObject({ model: MODEL, method: 'POST', path: '/chat/completions' });
      expect(Number.isNaN(Date.parse(line['time'] as string))).toBe(false);
      expect(typeof line['latency_ms']).toBe('number');
    }
    const about = (text: string) =>
      lines.filter((line) => JSON.stringify(line['request']).includes(text)).map((line) => line);

    const [plain] = about('plain');
    expect(plain).toMatchObject({
      attempt: 1,
      status: 200,
      outcome: 'ok',
      code: null,
      request: { model: MODEL, messages: [{ role: 'user', content: 'plain' }] },
      response: { object: 'chat.completion', choices: [{ message: { content: 'echo: plain' } }] },
    });
    expect(about('retried').map((l) => [l['attempt'], l['status'], l['outcome']])).toEqual([
      [1, 500, 'retryable'],
      [2, 200, 'ok'],
    ]);
    const dropped = about('dropped');
    expect(dropped.map((l) => [l['attempt'], l['status'], l['outcome']])).toEqual([
      [1, null, 'retryable'],
      [2, 200, 'ok'],
    ]);
    expect(dropped[0]).toHaveProperty('error', expect.any(String));
    expect(dropped[0]).not.toHaveProperty('response');
    expect(about('refused')[0]).toMatchObject({
      status: 400,
      outcome: 'bad_request',
      code: 'context_length_exceeded',
      response: { error: { code: 'context_length_exceeded' } },
    });
    const [secret] = about('my key is');
    expect(secret?.['request']).toEqual({
      model: MODEL,
      messages: [{ role: 'user', content: 'my key is sk-…0001 and sk-…0002' }],
    });
  });

  it('writes no log file for a run refused before any request', async () => {
    const s = await setup();
    const logDir = join(s.dir, 'logs');
    await expect(
      runPrompts(s.config, [{ prompt: 'ok' }, { messages: 'nope' } as never], s.options({ logDir })),
    ).rejects.toThrow('prompts[1]: "messages" must be a non-empty array of messages');
    await expect(readdir(logDir)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
