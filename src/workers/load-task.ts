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

function unknownExtension(error: unknown): boolean {
  return (error as { code?: unknown }).code === 'ERR_UNKNOWN_FILE_EXTENSION';
}

/**
 * Imports a module; a TypeScript one through tsx. Node 20 cannot register loader hooks from a
 * worker thread reliably, so: a plain import (works when the thread was started with tsx), else
 * tsx's `tsImport` (works in a thread started without it), else registering tsx and retrying.
 */
async function importModule(url: string): Promise<{ default?: unknown }> {
  try {
    return await import(url);
  } catch (error) {
    if (!unknownExtension(error) || !needsTypeScript(url)) throw error;
  }
  const tsx = await import('tsx/esm/api');
  try {
    return (await tsx.tsImport(url, import.meta.url)) as { default?: unknown };
  } catch {
    tsx.register();
    return import(`${url}${url.includes('?') ? '&' : '?'}tsx`);
  }
}

/** Imports the module once per thread and checks its default export is a function. */
export function loadTask(url: string): Promise<TaskFunction> {
  let loading = cache.get(url);
  if (!loading) {
    loading = importModule(url).then((module: { default?: unknown }) => {
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
