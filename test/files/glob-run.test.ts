import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { globRecords } from '../../src/prompts/glob-records.js';
import { runPrompts } from '../../src/prompts/index.js';
import { readRows, usePromptSetup } from '../prompts/helpers.js';
import { copyFixtures, FIXTURE_PATHS, modelRequests } from './helpers.js';

const setup = usePromptSetup();
const PROMPT = 'Summarise this file.';
const short = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex').slice(0, 8);

/** Every file under `dir`, as sorted relative paths. */
async function tree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

describe('one instruction over a folder (--glob records)', () => {
  it('sends text, PDF and PNG files to responses as input_text / input_file / input_image, one row per file in sorted path order, answers mirrored under writeTo', async () => {
    const s = await setup();
    const base = await copyFixtures(s.dir);
    const records = await globRecords('**/*', PROMPT, base);
    expect(records).toEqual(FIXTURE_PATHS.map((path) => ({ id: path, prompt: PROMPT, files: [path] })));

    const answers = join(s.dir, 'answers');
    const summary = await runPrompts(
      s.config,
      records,
      s.options({ endpoint: 'responses', filesDir: base, writeTo: answers }),
    );
    expect(summary).toMatchObject({ total: 4, done: 4, failed: 0 });
    const rows = await readRows(s.output);
    expect(rows.map((row) => row['id'])).toEqual(FIXTURE_PATHS);
    expect(rows.every((row) => row['error'] === undefined && row['prompt'] === PROMPT)).toBe(true);

    const png = await readFile(join(base, 'chart.png'));
    const pdf = await readFile(join(base, 'scan.pdf'));
    const md = await readFile(join(base, 'docs/a.md'), 'utf8');
    // The simulator answers from the content it was sent: each answer names its own file's bytes.
    expect(rows[0]?.['response']).toContain(`[image ${short(png)}]`);
    expect(rows[1]?.['response']).toContain('Install with npm');
    expect(rows[3]?.['response']).toContain(`[file scan.pdf ${short(pdf)}]`);

    const sentParts = modelRequests(s.sim).map((r) => {
      const input = r.body['input'] as Array<{ role: string; content: Array<Record<string, unknown>> }>;
      expect(input).toHaveLength(1);
      expect(input[0]?.role).toBe('user');
      return input[0]?.content ?? [];
    });
    expect(sentParts).toHaveLength(4);
    expect(sentParts).toContainEqual([
      { type: 'input_text', text: PROMPT },
      { type: 'input_image', image_url: `data:image/png;base64,${png.toString('base64')}`, detail: 'auto' },
    ]);
    expect(sentParts).toContainEqual([
      { type: 'input_text', text: PROMPT },
      {
        type: 'input_file',
        filename: 'scan.pdf',
        file_data: `data:application/pdf;base64,${pdf.toString('base64')}`,
      },
    ]);
    expect(sentParts).toContainEqual([
      { type: 'input_text', text: PROMPT },
      { type: 'input_text', text: `<file name="docs/a.md">\n${md}\n</file>` },
    ]);

    // The answers mirror the tree, each the row's response.
    expect(await tree(answers)).toEqual(FIXTURE_PATHS);
    for (const row of rows) {
      expect(await readFile(join(answers, row['id'] as string), 'utf8')).toBe(row['response']);
    }
  });

  it('sends them to chat as content parts: text, image_url data URL, file with file_data', async () => {
    const s = await setup();
    const base = await copyFixtures(s.dir);
    const records = await globRecords('{chart.png,scan.pdf,docs/*.md}', PROMPT, base);
    expect(records.map((r) => r.id)).toEqual(['chart.png', 'docs/a.md', 'scan.pdf']);
    await runPrompts(s.config, records, s.options({ filesDir: base }));
    const png = await readFile(join(base, 'chart.png'));
    const pdf = await readFile(join(base, 'scan.pdf'));
    const parts = modelRequests(s.sim).map((r) => {
      const messages = r.body['messages'] as Array<{ content: Array<Record<string, unknown>> }>;
      return messages.at(-1)?.content[1];
    });
    expect(parts).toContainEqual({
      type: 'image_url',
      image_url: { url: `data:image/png;base64,${png.toString('base64')}` },
    });
    expect(parts).toContainEqual({
      type: 'file',
      file: { filename: 'scan.pdf', file_data: `data:application/pdf;base64,${pdf.toString('base64')}` },
    });
    expect(parts).toContainEqual({
      type: 'text',
      text: expect.stringMatching(/^<file name="docs\/a.md">\n# Guide A/),
    });
    const rows = await readRows(s.output);
    expect(rows.map((r) => r['error'])).toEqual([undefined, undefined, undefined]);
  });

  it('a missing file, a folder, one over the size limit and a kind chat cannot take are error rows naming the file; the rest is answered', async () => {
    const s = await setup();
    const base = await copyFixtures(s.dir);
    await truncate(join(base, 'huge.pdf'), 0).catch(() => writeFile(join(base, 'huge.pdf'), ''));
    await truncate(join(base, 'huge.pdf'), 51 * 1024 * 1024); // sparse: 51 MB on paper
    await mkdir(join(base, 'folder.md'));
    await writeFile(join(base, 'data.bin'), Buffer.from([0, 1, 2, 255, 0]));
    const summary = await runPrompts(
      s.config,
      [
        { id: 'gone', prompt: PROMPT, files: ['missing.md'] },
        { id: 'ok', prompt: PROMPT, files: ['docs/a.md'] },
        { id: 'dir', prompt: PROMPT, files: ['folder.md'] },
        { id: 'huge', prompt: PROMPT, files: ['huge.pdf'] },
        { id: 'bin', prompt: PROMPT, files: ['data.bin'] },
      ],
      s.options({ filesDir: base }),
    );
    expect(summary).toMatchObject({ total: 5, done: 1, failed: 4 });
    const rows = await readRows(s.output);
    expect(rows.map((r) => r['id'])).toEqual(['gone', 'ok', 'dir', 'huge', 'bin']);
    expect(rows[1]?.['response']).toContain('Install with npm');
    const errors = rows.map((r) => r['error'] as { code: string; message: string } | undefined);
    expect(errors[0]).toEqual({ status: null, code: 'file_not_found', message: 'missing.md: no such file' });
    expect(errors[2]).toMatchObject({
      code: 'file_unreadable',
      message: expect.stringContaining('folder.md'),
    });
    expect(errors[3]).toMatchObject({
      code: 'file_too_large',
      message: expect.stringMatching(/^huge\.pdf: 51 MB is over the 50 MB/),
    });
    expect(errors[4]).toMatchObject({
      code: 'file_unsupported',
      message: expect.stringContaining('data.bin'),
    });
    expect(modelRequests(s.sim)).toHaveLength(1);
  });

  it('files of one record over the size limit together are one error row naming them', async () => {
    const s = await setup();
    const base = await copyFixtures(s.dir);
    for (const name of ['p1.pdf', 'p2.pdf']) {
      await writeFile(join(base, name), '');
      await truncate(join(base, name), 26 * 1024 * 1024);
    }
    await runPrompts(
      s.config,
      [
        { id: 'two', prompt: PROMPT, files: ['p1.pdf', 'p2.pdf'] },
        { id: 'one', prompt: PROMPT, files: ['p1.pdf'] },
      ],
      s.options({ filesDir: base }),
    );
    const rows = await readRows(s.output);
    expect(rows[0]?.['error']).toEqual({
      status: null,
      code: 'file_too_large',
      message: 'p1.pdf, p2.pdf: 52.0 MB together is over the 50 MB one request may carry',
    });
    expect(rows[1]?.['error']).toBeUndefined();
    expect(modelRequests(s.sim)).toHaveLength(1);
  });

  it('writeTo never writes outside its folder: not for .., not for an absolute path, not through a symbolic link', async () => {
    const s = await setup();
    const base = await copyFixtures(s.dir);
    const outside = join(s.dir, 'outside.md');
    await writeFile(outside, 'the input outside the tree\n');
    const answers = join(s.dir, 'answers');
    const elsewhere = join(s.dir, 'elsewhere');
    await mkdir(elsewhere);
    await mkdir(answers);
    await symlink(elsewhere, join(answers, 'docs'));
    await runPrompts(
      s.config,
      [
        { id: 'up', prompt: PROMPT, files: ['../outside.md'] },
        { id: 'abs', prompt: PROMPT, files: [outside] },
        { id: 'linked', prompt: PROMPT, files: ['docs/a.md'] },
        { id: 'fine', prompt: PROMPT, files: ['chart.png'] },
      ],
      // The files outside the tree are allowed (--files-from): only the writes are under test.
      s.options({ filesDir: base, filesFrom: [s.dir], writeTo: answers }),
    );
    const rows = await readRows(s.output);
    expect(rows.map((r) => r['error'])).toEqual([undefined, undefined, undefined, undefined]);
    expect(await readFile(outside, 'utf8')).toBe('the input outside the tree\n');
    expect(await readdir(elsewhere)).toEqual([]);
    expect(await readdir(s.dir)).not.toContain('chart.png');
    expect(await readFile(join(answers, 'chart.png'), 'utf8')).toBe(rows[3]?.['response']);
    const warnings = s.logger.lines.filter((line) => line.startsWith('warn: --write-to'));
    expect(warnings).toHaveLength(3);
    expect(warnings.join('\n')).toContain('../outside.md not written: it goes up with ..');
    expect(warnings.join('\n')).toContain('not written: an absolute path');
    expect(warnings.join('\n')).toContain('docs/a.md not written');
  });
});
