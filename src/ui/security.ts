/**
 * The dashboard's gate, as pure functions: a random token per start, which requests carry it
 * (`?token=` or the cookie the page sets), which `Host` headers are the loopback address the server
 * is bound to (no DNS rebinding), and a last scrub of anything that looks like an API key.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { redactKey } from '../keys/index.js';

/** A fresh token: 24 random bytes, URL-safe. */
export function newToken(): string {
  return randomBytes(24).toString('base64url');
}

/** The cookie the page is given, named by port (cookies are not kept apart by port). */
export function cookieName(port: number): string {
  return `keybatch_${port}`;
}

function sameToken(given: string | undefined, token: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The value of cookie `name` in a `Cookie` header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Whether the request carries the token, in its query or its cookie. */
export function hasToken(url: URL, headers: IncomingHttpHeaders, token: string, port: number): boolean {
  return (
    sameToken(url.searchParams.get('token') ?? undefined, token) ||
    sameToken(readCookie(headers.cookie, cookieName(port)), token)
  );
}

/** Whether `host` names the loopback address and port the server listens on. */
export function allowedHost(host: string | undefined, port: number): boolean {
  return host === `127.0.0.1:${port}` || host === `localhost:${port}`;
}

/** Strings shaped like an OpenAI-style secret key (`sk-` and 16 or more key characters). */
const KEY_SHAPE = /\bsk-[A-Za-z0-9_-]{16,}/g;

/** `text` with every key-shaped string shown as `sk-…abcd`. */
export function scrubKeyShapes(text: string): string {
  return text.replace(KEY_SHAPE, (key) => redactKey(key));
}
