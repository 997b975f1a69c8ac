import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expandBraces, globFiles, patternRegExp } from '../../src/files/glob.js';
import { useTempDir } from '../helpers.js';
import { copyFixtures, FIXTURE_PATHS, FIXTURES } from './helpers.js';

const tempDir = useTempDir();

describe('glob patterns', () => {
  it('expands {a,b} alternatives, nested and several', () => {
    expect(expandBraces('docs/*.{md,txt}')).toEqual(['docs/*.md', 'docs/*.txt']);
    expect(expandBraces('{a,b{c,d}}/{x,y}')).toEqual(['a/x', 'a/y', 'bc/x', 'bc/y', 'bd/x', 'bd/y']);
    expect(expandBraces('{only}.md')).toEqual(['{only}.md']);
  });

  it.each([
    ['*.md', 'a.md', true],
    ['*.md', 'docs/a.md', false],
    ['*.md', '.hidden.md', false],
    ['.*.md', '.hidden.md', true],
    ['**/*.md', 'a.md', true],
    ['**/*.md', 'docs/guide/a.md', true],
    ['**/*.md', '.git/a.md', false],
    ['docs/**', 'docs/guide/b.txt', true],
    ['docs/**/b.txt', 'docs/b.txt', true],
    ['docs/?.md', 'docs/a.md', true],
    ['docs/?.md', 'docs/ab.md', false],
    ['[ab].md', 'b.md', true],
    ['[!ab].md', 'b.md', false],
    ['a+b.md', 'a+b.md', true],
    ['a+b.md', 'aab.md', false],
  ])('%s matches %s: %s', (pattern, path, expected) => {
    expect(patternRegExp(pattern).test(path)).toBe(expected);
  });
});

describe('globFiles', () => {
  it('walks from the fixed folders of the pattern and gives sorted paths relative to cwd', async () => {
    expect(await globFiles('**/*', FIXTURES)).toEqual(FIXTURE_PATHS);
    expect(await globFiles('docs/**/*.{md,txt}', FIXTURES)).toEqual(['docs/a.md', 'docs/guide/b.txt']);
    expect(await globFiles('*.p{df,ng}', FIXTURES)).toEqual(['chart.png', 'scan.pdf']);
    expect(await globFiles(join(FIXTURES, 'docs/*.md'), '/')).toEqual([join(FIXTURES, 'docs/a.md').slice(1)]);
  });

  it('skips dotfiles unless spelled, matches links to files, does not walk links to folders', async () => {
    const dir = await tempDir();
    const base = await copyFixtures(dir);
    await writeFile(join(base, '.secret.md'), 'hidden');
    await mkdir(join(base, '.git'));
    await writeFile(join(base, '.git/x.md'), 'hidden');
    await symlink(join(base, 'docs/a.md'), join(base, 'link.md'));
    await symlink(base, join(base, 'docs/loop'));
    expect(await globFiles('**/*.md', base)).toEqual(['docs/a.md', 'link.md']);
    expect(await globFiles('.*.md', base)).toEqual(['.secret.md']);
  });

  it('a pattern that matches nothing is one clear error', async () => {
    await expect(globFiles('*.none', FIXTURES)).rejects.toThrow("--glob '*.none': no file matches");
  });
});
