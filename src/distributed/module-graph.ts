/**
 * The identity of a task module as a worker will load it: the sha256 over every local file reachable
 * from the entry by static imports (`import … from`, `export … from`, `import '…'`) and literal
 * dynamic imports (`import('…')`), each named by its path relative to the entry's folder (so two
 * machines with the project in different places agree). Package imports (`openai`, `node:fs`) are
 * named in the hash, not read: their versions are the machine's install. A helper edited on one
 * machine changes the hash, so that worker is refused rather than mixing two versions in one output.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { dirname, extname, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const IMPORTS = [
  /\b(?:import|export)\s[^'";]*?\bfrom\s*['"]([^'"\n]+)['"]/g,
  /\bimport\s*['"]([^'"\n]+)['"]/g,
  /\bimport\s*\(\s*['"]([^'"\n]+)['"]\s*\)/g,
];

/** Files read at most: a task graph larger than this is a mistake (a loop through node_modules). */
const MAX_FILES = 5_000;

/** TypeScript sources are imported by their `.js` names; tried in this order. */
const TS_TWINS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  '.js': ['.ts', '.tsx'],
  '.mjs': ['.mts'],
  '.cjs': ['.cts'],
  '': ['.js', '.ts', '.mjs', '.mts', '/index.js', '/index.ts'],
});

/** Pure: the module specifiers a source names (static and literal dynamic imports). */
export function importsOf(source: string): string[] {
  const found = new Set<string>();
  for (const pattern of IMPORTS) for (const match of source.matchAll(pattern)) found.add(match[1] as string);
  return [...found];
}

const isFile = async (path: string) => (await stat(path).catch(() => undefined))?.isFile() === true;

/** The file a relative specifier names, trying the TypeScript twin of a `.js` name. */
async function resolveLocal(from: string, specifier: string): Promise<string | undefined> {
  const base = specifier.startsWith('file:')
    ? fileURLToPath(specifier.split(/[?#]/)[0] as string)
    : resolve(dirname(from), specifier.split(/[?#]/)[0] as string);
  if (await isFile(base)) return base;
  const ext = extname(base);
  const twins = TS_TWINS[ext] ?? [];
  const stem = ext === '' ? base : base.slice(0, -ext.length);
  for (const twin of twins) if (await isFile(stem + twin)) return stem + twin;
  return undefined;
}

const local = (specifier: string) =>
  specifier.startsWith('./') || specifier.startsWith('../') || specifier.startsWith('file:');

export interface ModuleGraph {
  /** sha256 (hex) of the graph: each local file's relative path and bytes, each package's name. */
  sha256: string;
  /** The local files, relative to the entry's folder, in hash order. */
  files: string[];
}

/** The graph of the module at `entry` (a path); throws the fs error of an unreadable entry. */
export async function moduleGraph(entry: string): Promise<ModuleGraph> {
  const root = dirname(entry);
  const parts = new Map<string, string>();
  const queue = [entry];
  const seen = new Set(queue);
  while (queue.length > 0) {
    const file = queue.shift() as string;
    const bytes = await readFile(file);
    const name = relative(root, file).split(sep).join('/');
    parts.set(`file:${name}`, createHash('sha256').update(bytes).digest('hex'));
    for (const specifier of importsOf(bytes.toString('utf8'))) {
      if (!local(specifier)) {
        parts.set(`package:${specifier}`, '');
        continue;
      }
      const target = await resolveLocal(file, specifier);
      if (target === undefined) {
        parts.set(`missing:${name} -> ${specifier}`, '');
      } else if (!seen.has(target) && seen.size < MAX_FILES) {
        seen.add(target);
        queue.push(target);
      }
    }
  }
  const keys = [...parts.keys()].sort();
  const hash = createHash('sha256');
  for (const key of keys) hash.update(`${key}\0${parts.get(key)}\n`);
  return {
    sha256: hash.digest('hex'),
    files: keys.filter((key) => key.startsWith('file:')).map((key) => key.slice(5)),
  };
}
