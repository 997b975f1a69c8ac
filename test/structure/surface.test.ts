/**
 * The package surface as users get it: `npm test` builds dist/ first; these import the built
 * entries by the package's own name (`keybatch`, `keybatch/simulator`, `keybatch/distributed`), so
 * package.json `exports` is what is tested.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { useTempDir } from '../helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const REGISTER = fileURLToPath(new URL('./fixtures/register-resolve-log.mjs', import.meta.url));
const tempDir = useTempDir();

/** The runtime names `specifier` exports, and every module URL importing it resolved. */
async function load(specifier: string): Promise<{ names: string[]; modules: string[] }> {
  const log = join(await tempDir(), 'resolved.txt');
  const script = `const m = await import(${JSON.stringify(specifier)}); console.log(JSON.stringify(Object.keys(m).sort()));`;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', REGISTER, '--input-type=module', '-e', script],
    { cwd: ROOT, env: { ...process.env, KEYBATCH_RESOLVE_LOG: log } },
  );
  const modules = (await readFile(log, 'utf8')).split('\n').filter(Boolean);
  return { names: JSON.parse(stdout) as string[], modules };
}

const redisClients = (modules: string[]): string[] => [
  ...new Set(modules.filter((url) => /\/node_modules\/(ioredis|bullmq)\//.test(url))),
];

describe('import "keybatch"', () => {
  it('loads no Redis or BullMQ client (a shared pool and distributed runs load them when used)', async () => {
    const { modules } = await load('keybatch');
    expect(modules.some((url) => url.endsWith('/dist/index.js'))).toBe(true);
    expect(redisClients(modules)).toEqual([]);
  });

  it('exports these names: a change to the surface is a change to this list', async () => {
    const { names } = await load('keybatch');
    expect(names).toEqual([
      'AbortError',
      'CheckpointMismatchError',
      'ConfigError',
      'InputError',
      'KeyPool',
      'KeybatchError',
      'NoUsableKeyError',
      'Notifier',
      'ResponseCache',
      'StructuredOutputError',
      'canonicalJson',
      'completeStructured',
      'consoleLogger',
      'createClient',
      'defaultCacheDir',
      'describeKeys',
      'globFiles',
      'globRecords',
      'jsonSchema',
      'namespaceOf',
      'parseResponse',
      'prepareSchema',
      'probeKeys',
      'readRunStatus',
      'redactKey',
      'rowIdentity',
      'runPipeline',
      'runPrompts',
      'silentLogger',
      'startSimulator',
    ]);
  });
});

describe('the subpath entries', () => {
  it('keybatch/simulator exports the simulator', async () => {
    const { names, modules } = await load('keybatch/simulator');
    expect(names).toEqual(['KNOWN_MODELS', 'SIMULATOR_DEFAULTS', 'formatResetDuration', 'startSimulator']);
    expect(redisClients(modules)).toEqual([]);
  });

  it('keybatch/distributed exports the BullMQ worker, and loads ioredis (this test sees a Redis client load)', async () => {
    const { names, modules } = await load('keybatch/distributed');
    expect(names).toEqual(['startWorker']);
    expect(redisClients(modules).some((url) => url.includes('/node_modules/ioredis/'))).toBe(true);
  });
});
