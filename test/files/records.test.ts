import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { attachFiles } from '../../src/files/parts.js';
import { AnswerWriter, safeSegments } from '../../src/files/write-to.js';
import { silentLogger } from '../../src/logger.js';
import { runPrompts } from '../../src/prompts/index.js';
import { type RecordDefaults, toJob } from '../../src/requests/records.js';
import { OFFLINE_CONFIG, useTempDir } from '../helpers.js';

const tempDir = useTempDir();
const CHAT: RecordDefaults = { endpoint: 'chat', system: undefined, hasModel: true };

describe('records with files', () => {
  it('keeps the paths as written on the job (its identity), and the body without file content', () => {
    const job = toJob({ id: 'x', prompt: 'Sum up', files: ['docs/a.md', 'scan.pdf'] }, 0, CHAT);
    expect(job).toEqual({
      index: 0,
      id: 'x',
      endpoint: 'chat',
      system: null,
      prompt: 'Sum up',
      body: { messages: [{ role: 'user', content: 'Sum up' }] },
      files: ['docs/a.md', 'scan.pdf'],
    });
  });

  it.each([
    [
      { prompt: 'p', files: 'a.md' },
      CHAT,
      '"files" must be a non-empty array of file paths, got `"a.md"` (string)',
    ],
    [{ prompt: 'p', files: [] }, CHAT, '"files" must be a non-empty array of file paths, got `[]` (array)'],
    [{ prompt: 'p', files: ['a.md', 3] }, CHAT, '"files[1]" must be a file path, got `3` (number)'],
    [
      { prompt: 'p', files: ['a.md'] },
      { ...CHAT, endpoint: 'completions' },
      `"files" needs endpoint 'chat' or 'responses', not 'completions'`,
    ],
    [
      {
        url: '/v1/chat/completions',
        body: { model: 'm', messages: [{ role: 'user', content: 'x' }] },
        files: ['a'],
      },
      CHAT,
      '"files" is for prompt and messages records, not Batch API lines',
    ],
    [
      { prompt: 'p', files: ['a.md'] },
      { ...CHAT, noFiles: 'is not supported with the batch backend yet' },
      '"files" is not supported with the batch backend yet',
    ],
  ])('refuses %j', (record, defaults, message) => {
    expect(() => toJob(record, 0, defaults as RecordDefaults)).toThrow(message);
  });

  it('runPrompts refuses records with files on the batch backend before anything is sent', async () => {
    const dir = await tempDir();
    await expect(
      runPrompts(OFFLINE_CONFIG, [{ prompt: 'p', files: ['a.md'] }], {
        output: join(dir, 'out.jsonl'),
        model: 'gpt-4o-mini',
        backend: 'batch',
        handleSignals: false,
        logger: silentLogger,
        pool: { watch: false, notify: false },
      }),
    ).rejects.toThrow('prompts[0]: "files" is not supported with the batch backend yet');
  });

  it('attaches parts after the last user message, keeping a messages record and a system prompt', () => {
    const file = {
      name: 'a.md',
      path: '/x/a.md',
      kind: 'text' as const,
      mime: 'text/plain',
      bytes: Buffer.from('hello'),
      sha256: 'h',
    };
    const chat = attachFiles(
      'chat',
      {
        messages: [
          { role: 'system', content: 'S' },
          { role: 'user', content: 'first' },
          { role: 'assistant', content: 'ok' },
          { role: 'user', content: [{ type: 'text', text: 'second' }] },
        ],
      },
      [{ file }],
    );
    expect(chat['messages']).toEqual([
      { role: 'system', content: 'S' },
      { role: 'user', content: 'first' },
      { role: 'assistant', content: 'ok' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'second' },
          { type: 'text', text: '<file name="a.md">\nhello\n</file>' },
        ],
      },
    ]);
    const responses = attachFiles('responses', { input: 'Q', instructions: 'S' }, [{ file }]);
    expect(responses).toEqual({
      instructions: 'S',
      input: [
        {
          role: 'user',
          content: [
            { type: 'input_text', text: 'Q' },
            { type: 'input_text', text: '<file name="a.md">\nhello\n</file>' },
          ],
        },
      ],
    });
  });
});

describe('writing answers under a folder', () => {
  it.each([
    ['docs/a.md', { segments: ['docs', 'a.md'] }],
    ['./docs//a.md', { segments: ['docs', 'a.md'] }],
    ['../a.md', { refused: 'it goes up with ..' }],
    ['docs/../../a.md', { refused: 'it goes up with ..' }],
    ['/etc/passwd', { refused: 'an absolute path' }],
    ['C:/x.md', { refused: 'an absolute path' }],
    ['..\\x.md', { refused: 'it goes up with ..' }],
    ['', { refused: 'not a file path' }],
  ])('%j -> %j', (path, expected) => {
    expect(safeSegments(path)).toEqual(expected);
  });

  it('replaces a link at the final name instead of writing through it', async () => {
    const dir = await tempDir();
    const target = join(dir, 'target.txt');
    await writeFile(target, 'keep me');
    const root = join(dir, 'answers');
    await mkdir(root);
    await symlink(target, join(root, 'a.md'));
    const writer = new AnswerWriter(root);
    expect(await writer.write('a.md', 'the answer')).toBeNull();
    expect(await readFile(target, 'utf8')).toBe('keep me');
    expect(await readFile(join(root, 'a.md'), 'utf8')).toBe('the answer');
  });
});
