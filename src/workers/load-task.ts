/** Loading the user's task: a function, or a module (path or URL) whose default export is one. */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { KeybatchError } from '../errors.js';
import type { TaskFunction } from './types.js';

/** A module reference as a file URL string (relative paths are taken from the working directory). */
export function moduleUrl(ref: string | URL): string {
  if (ref instanceof URL) return ref.href;
  if (/^(file|data):/.test(ref)) return ref;
  return pathToFileURL(isAbsolute(ref) ? ref : resolve(ref)).href;
}

/** Whether loading this module needs the TypeScript loader (tsx) in the worker threads. */
export function needsTypeScript(url: string): boolean {
  return /\.(c|m)?tsx?$/.test(new URL(url).pathname);
}

const cache = new Map<string, Promise<TaskFunction>>();

/** Imports the module once per thread and checks its default export is a function. */
export function loadTask(url: string): Promise<TaskFunction> {
  let loading = cache.get(url);
  if (!loading) {
    loading = import(url).then((module: { default?: unknown }) => {
      if (typeof module.default !== 'function') {
        throw new KeybatchError(
          'TASK_INVALID',
          `${url}: the task module must have a default export that is a function (chunk, ctx) => results`,
        );
      }
      return module.default as TaskFunction;
    });
    cache.set(url, loading);
  }
  return loading;
}
