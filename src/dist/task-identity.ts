/**
 * A run's task as part of its identity: a task module by its name and the sha256 of its bytes
 * (a worker holding another version is refused), or keybatch's own prompt task by keybatch's version.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KeybatchError } from '../errors.js';
import type { PromptTaskSettings } from './options.js';

export type TaskIdentity =
  | { kind: 'module'; ref: string; name: string; sha256: string }
  | { kind: 'prompts'; version: string; settings: PromptTaskSettings };

const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

/** The sha256 of a module's source: its file's bytes, or the URL itself for a `data:` URL. */
export async function moduleHash(url: string): Promise<string> {
  if (url.startsWith('data:')) return sha256(url);
  try {
    return sha256(await readFile(fileURLToPath(url)));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new KeybatchError('TASK_INVALID', `task module ${url} cannot be read (${code})`, { cause: error });
  }
}

export async function moduleIdentity(url: string): Promise<TaskIdentity> {
  const name = url.startsWith('data:') ? 'data: module' : basename(new URL(url).pathname);
  return { kind: 'module', ref: url, name, sha256: await moduleHash(url) };
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
