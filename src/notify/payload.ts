/**
 * What each webhook kind receives. Pure functions: an event and a time in, a JSON-ready body out,
 * with every string passed through `scrub` first so no secret can leave in a notification.
 */

import type { NotifyEvent } from './types.js';

/** The webhook kinds a notifier can post to. */
export type NotifyTargetKind = 'lark' | 'slack' | 'webhook';

/** Prefix of every chat message, so a shared channel shows where it came from. */
export const MESSAGE_PREFIX = '[keybatch]';

const MAX_DEPTH = 8;

/** The body for one target kind, every string already scrubbed. */
export function buildPayload(
  kind: NotifyTargetKind,
  event: NotifyEvent,
  time: Date,
  scrub: (text: string) => string,
): Record<string, unknown> {
  const text = scrub(`${MESSAGE_PREFIX} ${event.message}`);
  switch (kind) {
    case 'lark':
      // Lark/Feishu custom bot: https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot
      return { msg_type: 'text', content: { text } };
    case 'slack':
      // Slack incoming webhook: https://api.slack.com/messaging/webhooks
      return { text };
    case 'webhook':
      return {
        source: 'keybatch',
        event: event.kind,
        message: scrub(event.message),
        time: time.toISOString(),
        details: jsonSafeObject(event.details ?? {}, scrub),
      };
  }
}

/**
 * `details` turned into plain JSON: strings (and keys) scrubbed, errors as `{ name, message, … }`,
 * dates as ISO strings, bigints as strings, cycles and very deep nesting cut, functions dropped.
 * Never throws, so a careless `details` cannot make a notification fail.
 */
export function jsonSafeObject(
  details: Record<string, unknown>,
  scrub: (text: string) => string,
): Record<string, unknown> {
  const value = toJsonSafe(details, scrub, new WeakSet(), 0);
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function toJsonSafe(
  value: unknown,
  scrub: (text: string) => string,
  seen: WeakSet<object>,
  depth: number,
): unknown {
  switch (typeof value) {
    case 'string':
      return scrub(value);
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'boolean':
      return value;
    case 'bigint':
      return scrub(value.toString());
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
  }
  if (value === null || typeof value !== 'object') return null;
  if (depth >= MAX_DEPTH) return '[…]';
  if (seen.has(value)) return '[Circular]';
  seen.add(value);
  try {
    if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
    if (value instanceof Error) return errorToJson(value, scrub);
    if (Array.isArray(value)) {
      return value.map((item) => toJsonSafe(item, scrub, seen, depth + 1) ?? null);
    }
    const entries = value instanceof Map ? [...value.entries()] : Object.entries(value);
    const out: Record<string, unknown> = {};
    for (const [key, item] of entries) {
      const safe = toJsonSafe(item, scrub, seen, depth + 1);
      if (safe !== undefined) out[scrub(String(key))] = safe;
    }
    return out;
  } catch {
    // A throwing getter or proxy: say so rather than fail the notification.
    return '[unserializable]';
  } finally {
    seen.delete(value);
  }
}

function errorToJson(error: Error, scrub: (text: string) => string): Record<string, unknown> {
  const e = error as Error & { code?: unknown; status?: unknown };
  const out: Record<string, unknown> = { name: scrub(e.name), message: scrub(e.message) };
  if (typeof e.code === 'string' || typeof e.code === 'number') out['code'] = scrub(String(e.code));
  if (typeof e.status === 'number') out['status'] = e.status;
  return out;
}
