/**
 * One webhook POST with a time limit. Never throws: it answers `undefined` on success or a short
 * reason on failure, which never contains the URL's path or query (webhook tokens live there).
 */

import type { NotifyTargetKind } from './payload.js';

/** A configured webhook: its kind, URL, and how logs name it (kind and host only). */
export interface NotifyTarget {
  readonly kind: NotifyTargetKind;
  readonly url: string;
  /** e.g. `lark webhook (open.feishu.cn)`, `webhook (hooks.example)` */
  readonly label: string;
}

/** Parses a webhook URL; `undefined` unless it is an absolute http(s) URL. */
export function toTarget(kind: NotifyTargetKind, url: string): NotifyTarget | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return undefined;
  const label = kind === 'webhook' ? `webhook (${parsed.host})` : `${kind} webhook (${parsed.host})`;
  return { kind, url: parsed.href, label };
}

const MAX_REASON_BODY = 200;

/** POSTs `body` (JSON) to the target; `undefined` when delivered, else why not. `cancel` gives up early. */
export async function postJson(
  target: NotifyTarget,
  body: string,
  timeoutMs: number,
  cancel?: AbortSignal,
): Promise<string | undefined> {
  try {
    const timeout = AbortSignal.timeout(timeoutMs);
    const response = await fetch(target.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body,
      signal: cancel ? AbortSignal.any([timeout, cancel]) : timeout,
    });
    // Always read the body: it frees the connection, and Lark reports errors inside a 200.
    const text = await response.text();
    if (!response.ok) return `HTTP ${response.status}${snippet(text)}`;
    if (target.kind === 'lark') return larkFailure(text);
    return undefined;
  } catch (error) {
    return describeError(error, target, timeoutMs);
  }
}

/** Lark/Feishu answers HTTP 200 with `{"code": <non-zero>, "msg": …}` when it refuses a message. */
function larkFailure(text: string): string | undefined {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof data !== 'object' || data === null) return undefined;
  const record = data as Record<string, unknown>;
  const code = record['code'] ?? record['StatusCode'];
  if (typeof code !== 'number' || code === 0) return undefined;
  const msg = record['msg'] ?? record['StatusMessage'];
  return `HTTP 200, Lark code ${code}${typeof msg === 'string' ? `: ${oneLine(msg)}` : ''}`;
}

function describeError(error: unknown, target: NotifyTarget, timeoutMs: number): string {
  if (error instanceof Error) {
    if (error.name === 'TimeoutError' || error.name === 'AbortError')
      return `timed out after ${timeoutMs} ms`;
    const cause = (error as Error & { cause?: unknown }).cause;
    if (cause instanceof Error) {
      const code = (cause as Error & { code?: unknown }).code;
      if (typeof code === 'string') return `network error ${code}`;
      return `network error: ${withoutUrl(cause.message, target)}`;
    }
    return `network error: ${withoutUrl(error.message, target)}`;
  }
  return `network error: ${withoutUrl(String(error), target)}`;
}

/** Error texts from fetch may quote the URL; replace it by the target's label. */
function withoutUrl(text: string, target: NotifyTarget): string {
  return oneLine(text.split(target.url).join(target.label));
}

function snippet(text: string): string {
  const line = oneLine(text);
  if (!line) return '';
  return `: ${line.length > MAX_REASON_BODY ? `${line.slice(0, MAX_REASON_BODY)}…` : line}`;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
