/**
 * The HTTP side of the simulator (node:http only): reads each request, asks `SimCore` what to do,
 * waits the decided latency, then answers, destroys the connection or leaves it hanging. `close()`
 * destroys every open connection, hung and keep-alive alike, so it resolves promptly.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Decision, SimCore } from './handler.js';

export interface SimServer {
  port: number;
  close(): Promise<void>;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function carryOut(core: SimCore, decision: Decision, req: IncomingMessage, res: ServerResponse): void {
  // The client gave up (timeout, abort) while we waited: nothing is answered.
  if (res.destroyed || req.socket.destroyed) return;
  const { outcome } = decision;
  switch (outcome.kind) {
    case 'json': {
      const payload = JSON.stringify(outcome.body);
      res.writeHead(outcome.status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(payload),
        ...outcome.headers,
      });
      res.end(payload);
      break;
    }
    case 'sse':
      res.writeHead(outcome.status, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        ...outcome.headers,
      });
      res.end(outcome.body);
      break;
    case 'bytes':
      res.writeHead(outcome.status, { 'content-length': outcome.body.length, ...outcome.headers });
      res.end(outcome.body);
      break;
    case 'drop':
      req.socket.destroy();
      break;
    case 'hang':
      break;
  }
  core.settle(decision, Date.now());
}

function internalError(res: ServerResponse, error: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const message = `Simulator internal error: ${error instanceof Error ? error.message : String(error)}`;
  const payload = JSON.stringify({ error: { message, type: 'server_error', param: null, code: null } });
  res.writeHead(500, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

/** Starts listening on 127.0.0.1:`port` (0: ephemeral). */
export async function startServer(core: SimCore, port: number): Promise<SimServer> {
  const timers = new Set<NodeJS.Timeout>();
  let closing: Promise<void> | null = null;

  const server = createServer({ noDelay: true }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('error', () => {});
    req.on('end', () => {
      if (closing) {
        req.socket.destroy();
        return;
      }
      try {
        const url = req.url ?? '/';
        const query = url.indexOf('?');
        const decision = core.decide(
          {
            method: req.method ?? 'GET',
            path: query === -1 ? url : url.slice(0, query),
            query: query === -1 ? '' : url.slice(query + 1),
            authorization: header(req, 'authorization'),
            organization: header(req, 'openai-organization'),
            contentType: header(req, 'content-type'),
            body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks),
          },
          Date.now(),
        );
        if (decision.delayMs <= 0) {
          carryOut(core, decision, req, res);
          return;
        }
        const timer = setTimeout(() => {
          timers.delete(timer);
          try {
            carryOut(core, decision, req, res);
          } catch (error) {
            internalError(res, error);
          }
        }, decision.delayMs);
        timers.add(timer);
      } catch (error) {
        internalError(res, error);
      }
    });
  });
  server.on('clientError', (_error, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });

  return {
    port: (server.address() as AddressInfo).port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
