/**
 * How the shared pool names things in Redis. A key is named only by a keyed hash (HMAC-SHA256 with
 * the namespace's random salt, 128 bits of it in hex): the same key in two configs is the same key,
 * and nothing stored lets anyone recover it (the salt alone does not, and a hash cannot be reversed).
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
  /** A rate domain's schedule, pause and learned limits. */
  domain: 3_600_000,
});

export interface Names {
  salt: string;
  key(hash: string): string;
  domain(hash: string): string;
}

export function names(namespace: string): Names {
  const base = `${PREFIX}:${namespace}`;
  return {
    salt: `${base}:salt`,
    key: (hash) => `${base}:key:${hash}`,
    domain: (hash) => `${base}:domain:${hash}`,
  };
}

/** A new salt: 32 random bytes in hex. */
export function newSalt(): string {
  return randomBytes(32).toString('hex');
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
