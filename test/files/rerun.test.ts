import { appendFile, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { globRecords } from '../../src/prompts/glob-records.js';
import { runPrompts } from '../../src/prompts/index.js';
import { readRows, usePromptSetup } from '../prompts/helpers.js';
import { copyFixtures, FIXTURE_PATHS, modelRequests } from './helpers.js';

const setup = usePromptSetup();
const PROMPT = 'Check this file.';

describe("a file record's identity includes its files' contents", () => {
  it('a rerun skips unchanged files and sends again only the one edited', async () => {
    const s = await setup();
    const base = await copyFixtures(s.dir);
    const records = await globRecords('**/*', PROMPT, base);
    const options = s.options({ endpoint: 'responses', filesDir: base, writeTo: join(s.dir, 'answers') });

    await runPrompts(s.config, records, options);
    expect(modelRequests(s.sim)).toHaveLength(4);
    const before = await readFile(s.output, 'utf8');

    s.sim.resetStats();
    const same = await runPrompts(s.config, records, options);
    expect(same).toMatchObject({ total: 4, skipped: 4, done: 0 });
    expect(modelRequests(s.sim)).toHaveLength(0);

    await writeFile(join(base, 'docs/a.md'), '# Guide A, edited\n\nNow with a second step.\n');
    s.sim.resetStats();
    const edited = await runPrompts(s.config, records, options);
    expect(edited).toMatchObject({ total: 4, skipped: 3, done: 1 });
    const sent = modelRequests(s.sim);
    expect(sent).toHaveLength(1);
    expect(JSON.stringify(sent[0]?.body)).toContain('Now with a second step.');
    expect(s.logger.text()).toContain(
      '1 record(s) whose files changed since they were answered are sent again: docs/a.md',
    );

    const rows = await readRows(s.output);
    const old = before.split('\n').filter(Boolean);
    expect(rows.map((r) => r['id'])).toEqual(FIXTURE_PATHS);
    expect(rows[1]?.['response']).toContain('Now with a second step.');
    // The other rows are the very lines of the first run.
    for (const k of [0, 2, 3]) expect(JSON.stringify(rows[k])).toBe(old[k]);
    expect(await readFile(join(s.dir, 'answers/docs/a.md'), 'utf8')).toBe(rows[1]?.['response']);
  });

  it('with upload, the edited file alone is uploaded and sent again', async () => {
    const s = await setup();
    const base = await copyFixtures(s.dir);
    const records = await globRecords('*.{pdf,png}', PROMPT, base);
    const options = s.options({ endpoint: 'responses', filesDir: base, upload: true });
    await runPrompts(s.config, records, options);
    expect(s.sim.stats().objects.filesCreated).toBe(2);
    expect(modelRequests(s.sim)).toHaveLength(2);

    await appendFile(join(base, 'scan.pdf'), '% an edit after the end\n');
    s.sim.resetStats();
    const summary = await runPrompts(s.config, records, options);
    expect(summary).toMatchObject({ skipped: 1, done: 1 });
    expect(s.sim.stats().objects.filesCreated).toBe(1);
    const sent = modelRequests(s.sim);
    expect(sent).toHaveLength(1);
    expect(JSON.stringify(sent[0]?.body)).toContain('input_file');
  });

  it('a record whose file was missing is sent once the file is there; an unchanged error row is kept', async () => {
    const s = await setup();
    const base = await copyFixtures(s.dir);
    const records = [
      { id: 'later', prompt: PROMPT, files: ['later.md'] },
      { id: 'never', prompt: PROMPT, files: ['never.md'] },
      { id: 'a', prompt: PROMPT, files: ['docs/a.md'] },
    ];
    const options = s.options({ filesDir: base });
    const first = await runPrompts(s.config, records, options);
    expect(first).toMatchObject({ done: 1, failed: 2 });

    await writeFile(join(base, 'later.md'), 'written after the first run\n');
    s.sim.resetStats();
    const second = await runPrompts(s.config, records, options);
    expect(second).toMatchObject({ done: 1, skipped: 2 });
    const rows = await readRows(s.output);
    expect(rows[0]?.['response']).toContain('written after the first run');
    expect(rows[1]?.['error']).toMatchObject({ code: 'file_not_found' });
    expect(modelRequests(s.sim)).toHaveLength(1);

    // Removed again: the request is the first run's again (a missing file), whose error row is kept.
    await rm(join(base, 'later.md'));
    const third = await runPrompts(s.config, records, options);
    expect(third).toMatchObject({ skipped: 3 });
    expect((await readRows(s.output))[0]?.['error']).toMatchObject({ code: 'file_not_found' });
  });

  it('a .jsonl input finds its files beside it, and a rerun sends again only the record whose file changed', async () => {
    const s = await setup();
    const base = await copyFixtures(s.dir);
    const input = join(base, 'records.jsonl');
    await writeFile(
      input,
      [
        { id: 'both', prompt: PROMPT, files: ['docs/a.md', 'scan.pdf'] },
        { id: 'image', prompt: PROMPT, files: ['chart.png'] },
        { id: 'text', prompt: PROMPT, files: ['docs/guide/b.txt'] },
      ]
        .map((r) => JSON.stringify(r))
        .join('\n'),
    );
    const options = s.options({ endpoint: 'responses' });
    await runPrompts(s.config, input, options);
    expect(modelRequests(s.sim)).toHaveLength(3);
    await appendFile(join(base, 'scan.pdf'), '% edited\n');
    s.sim.resetStats();
    const summary = await runPrompts(s.config, input, options);
    expect(summary).toMatchObject({ total: 3, skipped: 2, done: 1 });
    expect(modelRequests(s.sim)).toHaveLength(1);
    expect(JSON.stringify(modelRequests(s.sim)[0]?.body)).toContain('Guide A');
    expect(s.logger.text()).toContain('sent again: scan.pdf');
  });
});
