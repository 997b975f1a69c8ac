/**
 * How the shared pool names things in Redis. A key is named only by a keyed hash (HMAC-SHA256, 128
 * bits of it in hex): the same key in two configs is the same key. The HMAC key is derived from
 * `KEYBATCH_SECRET` when the processes share one, and then nothing in Redis lets anyone check a
 * guess of a key. Without it, the namespace's random salt, stored in Redis, is the HMAC key: anyone
 * who can read Redis can test guesses, so a low-entropy key (`EMPTY`, `sk-1234`) is recoverable
 * there (README, Security).
 */
import { createHmac, randomBytes } from 'node:crypto';

/** Every Redis key of a namespace starts with this. */
export const PREFIX = 'keybatch:pool';
export const DEFAULT_NAMESPACE = 'default';

/** How long each kind of entry lives after its last write (README: "What is stored in Redis"). */
export const TTL_MS = Object.freeze({
  /** The namespace's salt: refreshed by every sync of every process. */
  salt: 30 * 86_400_000,
  /** A key's state (invalid, exhausted, denied models, cooling) and its counters. */
  key: 86_400_000,
});

export interface Names {
  salt: string;
  key(hash: string): string;
}

export function names(namespace: string): Names {
  const base = `${PREFIX}:${namespace}`;
  return {
    salt: `${base}:salt`,
    key: (hash) => `${base}:key:${hash}`,
  };
}

/** A new salt: 32 random bytes in hex. */
export function newSalt(): string {
  return randomBytes(32).toString('hex');
}

/** The HMAC key of a namespace derived from the secret its processes share (never stored). */
export function secretKey(secret: string, namespace: string): string {
  return createHmac('sha256', secret).update(`${PREFIX}:${namespace}`).digest('hex');
}

/** The keyed hash that names `text` (an API key, a group) in Redis. */
export function keyedHash(salt: string, text: string): string {
  return createHmac('sha256', salt).update(text).digest('hex').slice(0, 32);
}

/** The rate domain of a key: its `group` (shared across configs by name), else the key itself. */
export function domainText(apiKey: string, group: string | undefined): string {
  return group !== undefined ? `group\u0000${group}` : `key\u0000${apiKey}`;
}

/** A namespace is a plain word: letters, digits, `-`, `_`, `.`, at most 64. */
export function checkNamespace(namespace: string): string | undefined {
  return /^[\w.-]{1,64}$/.test(namespace)
    ? undefined
    : `shared.namespace: expected letters, digits, '-', '_' or '.' (1 to 64), got ${JSON.stringify(namespace)}`;
}

/** The Redis URL as it may be shown: without a password. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.href.replace(/\/$/, '');
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
}
