/**
 * What a worker takes from a run descriptor read from Redis, and what it never does: anyone who can
 * write to that Redis can write a descriptor. A worker imports only the task modules named on its
 * own command line (`--task`), by their `file:` URL, when their module graph's hash is the one the
 * run asks for; the descriptor's `ref` is never imported. Endpoints come only from the worker's
 * own config: a run asking for another default base URL than the worker's is refused, and the
 * client settings that do travel (retries, timeout) are clamped.
 */
import { basename } from 'node:path';
import { KeybatchError } from '../errors.js';
import { DEFAULT_BASE_URL } from '../keys/pool-fetch.js';
import { moduleUrl } from '../workers/load-task.js';
import type { ClientSettings } from '../workers/protocol.js';
import { moduleHash, short } from './task-identity.js';

/** The `file:` URLs of a worker's `--task` modules; any other kind of URL is refused. */
export function allowedTasks(task: string | readonly string[] | undefined): string[] {
  const refs = task === undefined ? [] : typeof task === 'string' ? [task] : [...task];
  return refs.map((ref) => {
    const url = moduleUrl(ref);
    if (!url.startsWith('file:')) {
      throw new KeybatchError(
        'INPUT_INVALID',
        `--task ${ref.slice(0, 40)}: a worker runs only task modules on this machine (a path or file: URL)`,
      );
    }
    return url;
  });
}

/**
 * Which of the worker's own task modules has the graph hash `sha256`, or why none does. Only
 * those URLs are ever imported.
 */
export async function matchTask(
  allowed: readonly string[],
  want: { name: string; sha256: string },
): Promise<{ url: string } | { refused: string }> {
  if (allowed.length === 0) {
    return {
      refused: `its task ${want.name} is a module, and this worker runs only modules named by --task (start it with --task <path to ${want.name}>)`,
    };
  }
  const seen: string[] = [];
  for (const url of allowed) {
    const hash = await moduleHash(url).catch(() => undefined);
    if (hash === want.sha256) return { url };
    seen.push(`${basename(new URL(url).pathname)} ${hash === undefined ? 'unreadable' : short(hash)}`);
  }
  return {
    refused: `its task ${want.name} is version sha256 ${short(want.sha256)}; this worker's --task modules are ${seen.join(', ')} (run the same version)`,
  };
}

const normal = (url: string) => url.replace(/\/+$/, '');

/** A URL as shown in messages: its origin and path, never credentials or a query. */
function shown(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return 'an invalid URL';
  }
}

/** The worker's own base URL for keys without `base_url`. */
export const ownBaseURL = (own: string | undefined, env: NodeJS.ProcessEnv = process.env) =>
  normal(own ?? env['OPENAI_BASE_URL'] ?? DEFAULT_BASE_URL);

/** Why a run asking for `asked` as the default base URL is refused, or undefined (same as own). */
export function baseUrlRefusal(asked: unknown, own: string): string | undefined {
  if (asked === undefined || (typeof asked === 'string' && normal(asked) === own)) return undefined;
  const what = typeof asked === 'string' ? shown(asked) : `a ${typeof asked}`;
  return `it asks for base URL ${what} for keys without base_url, this worker's is ${shown(own)}: endpoints come only from the worker's own config`;
}

/** Attempts of one request at most, whatever a descriptor says (the pool's default is far lower). */
const MAX_ATTEMPTS = 20;
/** A backoff delay at most: ten minutes, past which a run is better stopped and resumed. */
const MAX_DELAY_MS = 600_000;

const bounded = (value: unknown, max: number) =>
  typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.min(value, max) : undefined;

/** The client settings a worker uses: the descriptor's retries and timeout, clamped; its own base URL. */
export function trustedClient(
  asked: ClientSettings | undefined,
  own: { defaultBaseURL?: string | undefined; timeoutMs?: number | undefined },
): ClientSettings {
  const client: ClientSettings = {};
  const retry = asked?.retry;
  if (retry && typeof retry === 'object') {
    const attempts = bounded(retry.maxAttempts, MAX_ATTEMPTS);
    const base = bounded(retry.baseDelayMs, MAX_DELAY_MS);
    const max = bounded(retry.maxDelayMs, MAX_DELAY_MS);
    client.retry = {
      ...(attempts !== undefined ? { maxAttempts: Math.max(1, Math.floor(attempts)) } : {}),
      ...(base !== undefined ? { baseDelayMs: base } : {}),
      ...(max !== undefined ? { maxDelayMs: max } : {}),
    };
  }
  const timeout = own.timeoutMs ?? bounded(asked?.timeoutMs, MAX_DELAY_MS);
  if (timeout !== undefined) client.timeoutMs = timeout;
  if (own.defaultBaseURL !== undefined) client.defaultBaseURL = own.defaultBaseURL;
  return client;
}
