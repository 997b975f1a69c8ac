/** A real local webhook receiver for the notify tests: records every request body. */

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../src/logger.js';

export interface Received {
  method: string;
  path: string;
  contentType: string | undefined;
  raw: string;
  body: unknown;
  /** `Date.now()` when the body was complete. */
  at: number;
}

export interface ReceiverOptions {
  /** How to answer; default 200 with `{"ok":true}`. Return `'hang'` to never answer. */
  answer?: (request: Received) => { status: number; body?: string } | 'hang';
}

export interface Receiver {
  readonly url: string;
  readonly received: Received[];
  /** Resolves once `count` requests matching `filter` have arrived; rejects after `timeoutMs`. */
  waitFor(count: number, filter?: (r: Received) => boolean, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

export async function startReceiver(options: ReceiverOptions = {}): Promise<Receiver> {
  const received: Received[] = [];
  const waiters = new Set<() => void>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = JSON.parse(raw);
      } catch {
        body = undefined;
      }
      const record: Received = {
        method: req.method ?? '',
        path: req.url ?? '',
        contentType: req.headers['content-type'],
        raw,
        body,
        at: Date.now(),
      };
      received.push(record);
      for (const wake of [...waiters]) wake();
      const answer = options.answer?.(record) ?? { status: 200, body: '{"ok":true}' };
      if (answer === 'hang') return;
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(answer.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    received,
    waitFor(count, filter = () => true, timeoutMs = 3000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const matching = received.filter(filter);
          if (matching.length < count) return false;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(matching);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(`receiver: expected ${count} matching requests, got ${received.filter(filter).length}`),
          );
        }, timeoutMs);
        if (!check()) waiters.add(check);
      });
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A URL on 127.0.0.1 where nothing listens (a port that was just freed). */
export async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/** A logger that keeps every line, by level. */
export function collectingLogger(): Logger & {
  lines: { level: string; message: string }[];
  warns(): string[];
} {
  const lines: { level: string; message: string }[] = [];
  const at = (level: string) => (message: string) => {
    lines.push({ level, message });
  };
  return {
    lines,
    warns: () => lines.filter((l) => l.level === 'warn').map((l) => l.message),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
  };
}
