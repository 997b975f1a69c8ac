/**
 * `--glob`: the files a pattern matches, by a walk from the pattern's fixed leading folders.
 * Patterns use `/` and know `**` (any folders, none too), `*` and `?` (within one name), `[abc]`
 * and `{a,b}` (alternatives, nestable). As in shells, `*`, `?` and `**` never match a name that
 * starts with `.` unless the pattern spells the dot. Symbolic links to files are matched; links to
 * folders are not walked into (no loops).
 */
import { readdir, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { InputError } from '../errors.js';

const SPECIAL = /[*?[{]/;

/** The alternatives of the outermost `{…}` groups expanded: `a/{b,c{d,e}}` -> `a/b`, `a/cd`, `a/ce`. */
export function expandBraces(pattern: string): string[] {
  let depth = 0;
  let open = -1;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '{') {
      if (depth === 0) open = i;
      depth++;
    } else if (c === '}' && depth > 0) {
      depth--;
      if (depth === 0) {
        const inner = pattern.slice(open + 1, i);
        const parts = splitTopLevel(inner);
        // `{x}` with no comma is taken as written (as shells do).
        if (parts.length < 2) continue;
        const head = pattern.slice(0, open);
        const tails = expandBraces(pattern.slice(i + 1));
        return parts.flatMap((part) =>
          expandBraces(head + part).flatMap((start) => tails.map((t) => start + t)),
        );
      }
    }
  }
  return [pattern];
}

function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') i++;
    else if (c === '{') depth++;
    else if (c === '}') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

/** One path segment's pattern (no `/`, no braces) as a RegExp source. */
function segmentSource(segment: string): string {
  let out = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i] as string;
    if (c === '\\' && i + 1 < segment.length) {
      out += escapeChar(segment[++i] as string);
    } else if (c === '*') {
      while (segment[i + 1] === '*') i++;
      out += '[^/]*';
    } else if (c === '?') {
      out += '[^/]';
    } else if (c === '[') {
      const close = segment.indexOf(']', i + 2);
      if (close === -1) {
        out += '\\[';
        continue;
      }
      let body = segment.slice(i + 1, close);
      const negated = body.startsWith('!') || body.startsWith('^');
      if (negated) body = body.slice(1);
      out += `[${negated ? '^/' : ''}${body.replace(/[\\\]]/g, '\\$&')}]`;
      i = close;
    } else out += escapeChar(c);
  }
  // A leading `.` must be spelled: wildcards do not match dotfiles.
  return segment.startsWith('.') ? out : `(?!\\.)${out}`;
}

const escapeChar = (c: string) => c.replace(/[.+^$()|\\/\]]/g, '\\$&');

/** A brace-free pattern as an anchored RegExp over `/`-separated paths. */
export function patternRegExp(pattern: string): RegExp {
  const segments = pattern.split('/');
  let source = '';
  segments.forEach((segment, k) => {
    const last = k === segments.length - 1;
    if (segment === '**') {
      // Zero or more folders (not dot folders); as the last segment, any file below.
      source += last ? '(?:(?!\\.)[^/]*(?:/(?!\\.)[^/]*)*)?' : '(?:(?!\\.)[^/]*/)*';
    } else {
      source += segmentSource(segment) + (last ? '' : '/');
    }
  });
  return new RegExp(`^${source}$`);
}

/** The fixed leading folders of a pattern (before its first wildcard segment), and the rest. */
function splitBase(pattern: string): { base: string; rest: string } {
  const segments = pattern.split('/');
  let k = 0;
  while (k < segments.length - 1 && !SPECIAL.test(segments[k] as string)) k++;
  return { base: segments.slice(0, k).join('/'), rest: segments.slice(k).join('/') };
}

/** How deep a walk need go (folders below the base), and whether dot folders can match. */
interface WalkLimits {
  depth: number;
  dotFolders: boolean;
}

async function* walk(root: string, prefix: string, limits: WalkLimits, depth = 1): AsyncGenerator<string> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return;
    throw error;
  }
  for (const entry of entries) {
    const path = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) {
      if (depth >= limits.depth || (entry.name.startsWith('.') && !limits.dotFolders)) continue;
      yield* walk(join(root, entry.name), path, limits, depth + 1);
    } else if (entry.isFile()) yield path;
    else if (entry.isSymbolicLink()) {
      const target = await stat(join(root, entry.name)).catch(() => undefined);
      if (target?.isFile()) yield path;
    }
  }
}

/** Code-unit order, the same on every machine and locale. */
export const byPath = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export interface GlobOptions {
  /** Files and folders never matched (e.g. the run's own output, run directory and answers folder). */
  exclude?: readonly string[];
}

/**
 * The files `pattern` matches, as `/`-separated paths relative to `cwd` (absolute when outside
 * it), each once, sorted by path. A pattern that matches nothing is InputError.
 */
export async function globFiles(
  pattern: string,
  cwd: string = process.cwd(),
  options: GlobOptions = {},
): Promise<string[]> {
  const excluded = (options.exclude ?? []).map((path) => resolve(cwd, path));
  const isExcluded = (full: string) =>
    excluded.some((path) => full === path || full.startsWith(path.endsWith(sep) ? path : path + sep));
  if (pattern.trim() === '') throw new InputError('--glob: the pattern is empty');
  const found = new Set<string>();
  for (const alternative of expandBraces(pattern.replaceAll(sep, '/'))) {
    const absolute = isAbsolute(alternative);
    const { base, rest } = splitBase(absolute ? alternative.slice(1) : alternative);
    const regexp = patternRegExp(rest);
    const root = absolute ? `/${base}` : join(cwd, base);
    const segments = rest.split('/');
    const limits: WalkLimits = {
      depth: segments.includes('**') ? Number.POSITIVE_INFINITY : segments.length,
      dotFolders: segments.some((segment) => segment.startsWith('.')),
    };
    for await (const path of walk(root, '', limits)) {
      if (!regexp.test(path)) continue;
      const full = join(root, path);
      if (isExcluded(full)) continue;
      const shown = relative(cwd, full).split(sep).join('/');
      found.add(shown.startsWith('..') || isAbsolute(shown) ? full : shown);
    }
  }
  if (found.size === 0) throw new InputError(`--glob '${pattern}': no file matches`);
  return [...found].sort(byPath);
}
