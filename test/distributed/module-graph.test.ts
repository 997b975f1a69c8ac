/**
 * A task's identity covers every local module it imports, not only its entry file: a worker whose
 * helper differs is refused instead of mixing two versions in one output.
 */
import { cp, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { importsOf, moduleGraph } from '../../src/distributed/module-graph.js';
import { moduleHash } from '../../src/distributed/task-identity.js';
import { useTempDir } from '../helpers.js';

const tempDir = useTempDir();

async function project(dir: string): Promise<string> {
  await mkdir(join(dir, 'lib'), { recursive: true });
  await writeFile(
    join(dir, 'task.mjs'),
    "import { shout } from './lib/helper.mjs';\nimport OpenAI from 'openai';\nexport default async (chunk) => chunk.map(shout);\n",
  );
  await writeFile(join(dir, 'lib', 'helper.mjs'), "export { shout } from './words.js';\n");
  // A TypeScript helper imported by its .js name, as tsc wants.
  await writeFile(
    join(dir, 'lib', 'words.ts'),
    'export const shout = (x: unknown) => String(x).toUpperCase();\n',
  );
  return join(dir, 'task.mjs');
}

describe('a task module identity', () => {
  it('changes when a helper two imports away changes, not when the project moves', async () => {
    const dir = await tempDir();
    const entry = await project(join(dir, 'a'));
    const before = await moduleHash(pathToFileURL(entry).href);
    await cp(join(dir, 'a'), join(dir, 'elsewhere', 'b'), { recursive: true });
    expect(await moduleHash(pathToFileURL(join(dir, 'elsewhere', 'b', 'task.mjs')).href)).toBe(before);
    await writeFile(join(dir, 'a', 'lib', 'words.ts'), 'export const shout = (x: unknown) => String(x);\n');
    expect(await moduleHash(pathToFileURL(entry).href)).not.toBe(before);
    expect((await moduleGraph(entry)).files).toEqual(['lib/helper.mjs', 'lib/words.ts', 'task.mjs']);
  });

  it('refuses a data: URL', async () => {
    await expect(moduleHash('data:text/javascript,export default 1')).rejects.toThrow(
      /only file: modules run distributed/,
    );
  });

  it('reads static, re-exported and literal dynamic imports', () => {
    expect(
      importsOf(
        "import a from './a.js';\nexport * from \"../b.mjs\";\nimport './c.js';\nconst d = await import('./d.js');\nimport { x } from 'pkg';",
      ),
    ).toEqual(['./a.js', '../b.mjs', 'pkg', './c.js', './d.js']);
  });
});
