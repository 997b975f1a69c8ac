/**
 * A run's task as part of its identity: a task module by its name and the sha256 of its module
 * graph (every local file it imports, `module-graph.ts`; a worker holding another version of any
 * of them is refused), or keybatch's own prompt task by keybatch's version. Only `file:` modules
 * run distributed: a `data:` or remote URL is refused on both sides.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KeybatchError } from '../errors.js';
import { moduleGraph } from './module-graph.js';
import type { PromptTaskSettings } from './options.js';

export type TaskIdentity =
  | { kind: 'module'; ref: string; name: string; sha256: string }
  | { kind: 'prompts'; version: string; settings: PromptTaskSettings };

/** The sha256 of a `file:` module's graph (the entry and every local file it imports). */
export async function moduleHash(url: string): Promise<string> {
  if (!url.startsWith('file:')) {
    throw new KeybatchError(
      'TASK_INVALID',
      `task module ${url.slice(0, 40)}${url.length > 40 ? '…' : ''}: only file: modules run distributed`,
    );
  }
  try {
    return (await moduleGraph(fileURLToPath(url))).sha256;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new KeybatchError('TASK_INVALID', `task module ${url} cannot be read (${code})`, { cause: error });
  }
}

export async function moduleIdentity(url: string): Promise<TaskIdentity> {
  const sha = await moduleHash(url);
  const name = basename(new URL(url).pathname);
  return { kind: 'module', ref: url, name, sha256: sha };
}

/** Short form of a hash for messages. */
export const short = (hash: string) => hash.slice(0, 12);

let version: string | undefined;

/** keybatch's version (the prompt task is part of it). */
export async function keybatchVersion(): Promise<string> {
  if (version === undefined) {
    try {
      const url = new URL('../../package.json', import.meta.url);
      version = (JSON.parse(await readFile(url, 'utf8')) as { version?: string }).version ?? '0.0.0';
    } catch {
      version = '0.0.0';
    }
  }
  return version;
}
