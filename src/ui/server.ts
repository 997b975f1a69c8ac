/**
 * The dashboard's HTTP server: bound to 127.0.0.1 only, every request checked for the loopback
 * `Host` and the token (else 403), the page and uPlot from the package, the summary as JSON and as
 * server-sent events (each second and on change), and pages of rows. Nothing it sends holds a full
 * key: everything comes from redacted status data and is scrubbed once more on the way out.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InputError } from '../errors.js';
import { type Asset, loadAssets } from './assets.js';
import { parseRowsQuery } from './rows.js';
import { allowedHost, cookieName, hasToken, newToken, scrubKeyShapes } from './security.js';
import type { SummaryTracker } from './summary.js';
import type { RowsPage, RowsQuery } from './types.js';

/** Where the dashboard's data comes from: a live run, or a run directory read by another process. */
export interface DashboardSource {
  readonly tracker: SummaryTracker;
  rows(query: RowsQuery): Promise<RowsPage>;
  /** Replaces every full key the source knows of in `text` (the live pool's keys). */
  scrub(text: string): string;
}

export interface DashboardOptions {
  /** Port on 127.0.0.1; 0 for any free one. @default 0 */
  port?: number;
  /** Least time between two events of the stream. @default 250 */
  eventIntervalMs?: number;
}

export interface Dashboard {
  /** `http://127.0.0.1:<port>/?token=<token>` */
  readonly url: string;
  readonly port: number;
  /** The line to print on stderr: `dashboard at <url>` (without the `keybatch: ` prefix). */
  readonly line: string;
  close(): Promise<void>;
}

const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy':
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
};

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': type,
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** Starts the dashboard over `source`. A port in use is an `InputError` naming it. */
export async function startDashboard(
  source: DashboardSource,
  options: DashboardOptions = {},
): Promise<Dashboard> {
  const assets = await loadAssets();
  const token = newToken();
  const eventIntervalMs = options.eventIntervalMs ?? 250;
  const streams = new Set<() => void>();
  let port = 0;

  const clean = (text: string) => scrubKeyShapes(source.scrub(text));
  const json = (res: ServerResponse, value: unknown) =>
    send(res, 200, 'application/json; charset=utf-8', clean(JSON.stringify(value)));

  const events = (req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      connection: 'keep-alive',
    });
    res.write('retry: 2000\n\n');
    let lastSent = 0;
    let pending: NodeJS.Timeout | undefined;
    const push = () => {
      pending = undefined;
      lastSent = Date.now();
      const summary = source.tracker.summary;
      res.write(`event: summary\ndata: ${clean(JSON.stringify(summary))}\n\n`);
      // A run that has ended changes no more: the page is told so and the stream closes, so a
      // browser holds no connection open (and does not reconnect) for a finished run.
      if (summary.state !== 'running') {
        res.write('event: end\ndata: {}\n\n');
        end();
      }
    };
    const onChange = () => {
      if (pending) return;
      const wait = lastSent + eventIntervalMs - Date.now();
      if (wait <= 0) push();
      else pending = setTimeout(push, wait);
    };
    const tick = setInterval(push, 1000);
    source.tracker.on('change', onChange);
    const stop = () => {
      clearInterval(tick);
      clearTimeout(pending);
      source.tracker.off('change', onChange);
      streams.delete(end);
    };
    const end = () => {
      stop();
      res.end();
    };
    streams.add(end);
    req.on('close', stop);
    push();
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (!allowedHost(req.headers.host, port)) return send(res, 403, 'text/plain', 'forbidden: bad Host\n');
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    if (!hasToken(url, req.headers, token, port))
      return send(res, 403, 'text/plain', 'forbidden: no token\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'GET only\n');
    switch (url.pathname) {
      case '/api/summary':
        return json(res, source.tracker.summary);
      case '/api/events':
        return events(req, res);
      case '/api/rows':
        return json(res, await source.rows(parseRowsQuery(url.searchParams)));
    }
    const asset: Asset | undefined = assets.get(url.pathname);
    if (!asset) return send(res, 404, 'text/plain', 'not found\n');
    if (url.pathname === '/') {
      // The page's own requests (scripts, styles, the event stream) carry the token as a cookie.
      res.setHeader('set-cookie', `${cookieName(port)}=${token}; Path=/; HttpOnly; SameSite=Strict`);
    }
    return send(res, 200, asset.type, asset.body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const message = clean(error instanceof Error ? error.message : String(error));
      if (!res.headersSent) send(res, 500, 'text/plain', `${message}\n`);
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'EADDRINUSE'
          ? new InputError(
              `--port ${options.port}: the port is in use on 127.0.0.1; pick another, or 0 for any`,
            )
          : error,
      );
    };
    server.once('error', onError);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', onError);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}/?token=${token}`;
  return {
    url,
    port,
    line: `dashboard at ${url}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const end of [...streams]) end();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
