/**
 * The layer rules of `npm run lint` (.dependency-cruiser.cjs) on a small tree shaped like src/: an
 * upward import, a sibling import, a CLI import past the public entries and a dashboard import past
 * a folder's index.ts fail with a line that names the rule and the files; the same tree without
 * them passes.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { useTempDir } from '../helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');
const DEPCRUISE = join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');
const tempDir = useTempDir();

/** Files that keep to the layers: pipeline over keys, the CLI over the public entry, the dashboard over the keys' entry. */
const CLEAN: Record<string, string> = {
  'src/errors.ts': 'export class KeybatchError extends Error {}\n',
  'src/keys/pool.ts': "import { KeybatchError } from '../errors.js';\nexport const pool = KeybatchError;\n",
  'src/checkpoint/merge.ts': 'export const merge = 1;\n',
  'src/tokens/cost.ts': 'export const cost = 1;\n',
  'src/keys/index.ts': "export { pool } from './pool.js';\n",
  'src/pipeline/run.ts': "import { pool } from '../keys/pool.js';\nexport const run = pool;\n",
  'src/ui/server.ts': "import { pool } from '../keys/index.js';\nexport const serve = pool;\n",
  'src/index.ts': "export { run } from './pipeline/run.js';\n",
  'src/cli/main.ts': "import { run } from '../index.js';\nexport const main = run;\n",
};

/** Runs the project's rules on `files` in a fresh directory; the exit code and what it printed. */
async function cruise(files: Record<string, string>): Promise<{ code: number; output: string }> {
  const dir = await tempDir();
  const tsconfig = { compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true } };
  for (const [path, text] of Object.entries({ ...files, 'tsconfig.json': JSON.stringify(tsconfig) })) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [DEPCRUISE, 'src', '--config', CONFIG, '--output-type', 'err'],
      { cwd: dir },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, output: stdout + stderr });
      },
    );
  });
}

/** An upward import, an import between two folders of one layer, a CLI or dashboard import past the entries. */
const PLANTED: Record<string, string> = {
  ...CLEAN,
  'src/keys/pool.ts': "import { run } from '../pipeline/run.js';\nexport const pool = run;\n",
  'src/tokens/cost.ts': "import { merge } from '../checkpoint/merge.js';\nexport const cost = merge;\n",
  'src/cli/main.ts': "import { pool } from '../keys/pool.js';\nexport const main = pool;\n",
  'src/ui/server.ts': "import { pool } from '../keys/pool.js';\nexport const serve = pool;\n",
};

// Each check starts depcruise (and the TypeScript compiler) afresh: seconds of CPU, so a generous bound.
const SPAWN_BOUND_MS = 120_000;

describe('the layer check of npm run lint', () => {
  it('passes a tree whose imports point down, and fails each planted import with a line naming the rule and both files', {
    timeout: SPAWN_BOUND_MS,
  }, async () => {
    // Both trees at once (two processes), so the test takes one depcruise start, not two.
    const [clean, planted] = await Promise.all([cruise(CLEAN), cruise(PLANTED)]);
    expect(clean.output).toContain('no dependency violations found');
    expect(clean.code).toBe(0);
    expect(planted.code).not.toBe(0);
    const violations = planted.output.split('\n').filter((line) => line.trim().startsWith('error '));
    expect(violations.map((line) => line.trim()).sort()).toEqual([
      'error cli:public-api: src/cli/main.ts → src/keys/pool.ts',
      'error layer:keys: src/keys/pool.ts → src/pipeline/run.ts',
      'error layer:tokens: src/tokens/cost.ts → src/checkpoint/merge.ts',
      'error ui:folder-entries: src/ui/server.ts → src/keys/pool.ts',
    ]);
  });
});
