import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { TSX, useTempDir } from './helpers.js';

const run = promisify(execFile);
const tempDir = useTempDir();
const example = (name: string) => fileURLToPath(new URL(`../examples/${name}`, import.meta.url));

describe('examples run as written', () => {
  it('examples/pipeline.ts labels 200 records and resumes on a rerun', async () => {
    const cwd = await tempDir();
    const first = await run(process.execPath, ['--import', TSX, example('pipeline.ts')], { cwd });
    expect(first.stdout).toContain('done 200, skipped 0, failed 0');
    const lines = (await readFile(join(cwd, 'out/labels.jsonl'), 'utf8')).trimEnd().split('\n');
    expect(lines).toHaveLength(200);
    expect(JSON.parse(lines[7]!)).toEqual({ id: 7, label: 'echo: review number 7' });
    const second = await run(process.execPath, ['--import', TSX, example('pipeline.ts')], { cwd });
    expect(second.stdout).toContain('done 0, skipped 200, failed 0');
  });

  it('examples/prompts.ts writes one row per record, in order, with the refused one as an error row', async () => {
    const cwd = await tempDir();
    const { stdout } = await run(process.execPath, ['--import', TSX, example('prompts.ts')], { cwd });
    expect(stdout).toContain('done 3, failed 1');
    const rows = (await readFile(join(cwd, 'out/answers.jsonl'), 'utf8'))
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(rows.map((row) => row.id)).toEqual([1, 'b', 'req-7', 4]);
    expect(rows[3].error).toMatchObject({ status: 400, code: 'context_length_exceeded' });
  });

  it('examples/threads.ts runs a task module on worker threads', async () => {
    const cwd = await tempDir();
    const { stdout } = await run(process.execPath, ['--import', TSX, example('threads.ts')], { cwd });
    expect(stdout).toContain("'echo: Summarize: document 0'");
    expect(stdout).toMatch(/60 done in \d+ ms/);
  });
});
