/**
 * The audit log: one JSON line per HTTP attempt, in `<logDir>/keybatch-<ISO time>.jsonl`. Every
 * string in it passes through the pool's scrubber, so no full key can appear.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Transform } from 'node:stream';
import { stringify } from 'ndjson';
import type { AttemptInfo } from '../keys/pool-fetch.js';

export interface AuditLog {
  /** The file written. */
  readonly path: string;
  /** Records one attempt (for `ClientOptions.onAttempt`), with the `id` of the item it was for. */
  record(info: AttemptInfo, id?: string | number): void;
  /** Flushes and closes the file. */
  close(): Promise<void>;
}

/** `keybatch-2026-01-02T03-04-05.678Z.jsonl`: an ISO time without the colons filesystems refuse. */
export function auditLogName(now: Date): string {
  return `keybatch-${now.toISOString().replace(/:/g, '-')}.jsonl`;
}

/** Every string inside `value` scrubbed. */
function scrubDeep(value: unknown, scrub: (text: string) => string): unknown {
  if (typeof value === 'string') return scrub(value);
  if (Array.isArray(value)) return value.map((item) => scrubDeep(item, scrub));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [scrub(key), scrubDeep(item, scrub)]),
    );
  }
  return value;
}

/** A body as JSON when it parses, else as text. */
function parsed(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The audit line of one attempt; `id` is the item's, as in its output row (its `id` or `custom_id`). */
export function auditLine(info: AttemptInfo, now: Date, id?: string | number): Record<string, unknown> {
  const line: Record<string, unknown> = {
    time: now.toISOString(),
    id: id ?? null,
    key: info.key,
    model: info.model ?? null,
    method: info.method,
    path: info.path,
    attempt: info.attempt,
    status: info.status ?? null,
    outcome: info.outcome,
    code: info.code ?? null,
    latency_ms: info.latencyMs,
    request: info.request === undefined ? null : parsed(info.request),
  };
  if (info.response !== undefined) line['response'] = parsed(info.response);
  else line['error'] = info.error ?? null;
  return line;
}

/**
 * An audit log in `dir` (made if missing). The file is created with the first attempt, so a run
 * refused before sending anything leaves no empty log behind.
 */
export async function openAuditLog(dir: string, scrub: (text: string) => string): Promise<AuditLog> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, auditLogName(new Date()));
  let failure: Error | undefined;
  const onError = (error: Error) => {
    failure ??= error;
  };
  let stream: { lines: Transform; file: WriteStream } | undefined;
  const open = () => {
    const file = createWriteStream(path, { flags: 'a' });
    const lines = stringify();
    file.on('error', onError);
    lines.on('error', onError);
    lines.pipe(file);
    return { lines, file };
  };
  let closing: Promise<void> | undefined;
  return {
    path,
    record(info, id) {
      if (closing || failure) return;
      stream ??= open();
      stream.lines.write(scrubDeep(auditLine(info, new Date(), id), scrub));
    },
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        const done = () => (failure ? reject(failure) : resolve());
        if (!stream || stream.file.closed) return done();
        stream.file.once('close', done);
        stream.lines.end();
      });
      return closing;
    },
  };
}
