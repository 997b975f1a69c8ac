/**
 * The dashboard's HTTP server: bound to 127.0.0.1 only, every request checked for the loopback
 * `Host` and the token (else 403), the page and uPlot from the package, the summary as JSON and as
 * server-sent events (each second and on change), and pages of rows. Nothing it sends holds a full
 * key: everything comes from redacted status data and is scrubbed once more on the way out.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InputError } from '../errors.js';
import { type Asset, loadAssets } from './assets.js';
import { openEventStream, send } from './responses.js';
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

/** Least time between two events of the stream, by default: a quarter second reads as live. */
const DEFAULT_EVENT_INTERVAL_MS = 250;

/** What the handler of every request needs. */
interface Served {
  readonly source: DashboardSource;
  readonly assets: ReadonlyMap<string, Asset>;
  readonly token: string;
  readonly eventIntervalMs: number;
  /** The open event streams' `end`, to close them with the server. */
  readonly streams: Set<() => void>;
  /** The port once listening: the `Host` and cookie checks name it. */
  port: number;
}

/** Starts the dashboard over `source`. A port in use is an `InputError` naming it. */
export async function startDashboard(
  source: DashboardSource,
  options: DashboardOptions = {},
): Promise<Dashboard> {
  const served: Served = {
    source,
    assets: await loadAssets(),
    token: newToken(),
    eventIntervalMs: options.eventIntervalMs ?? DEFAULT_EVENT_INTERVAL_MS,
    streams: new Set(),
    port: 0,
  };
  const server = createServer((req, res) => answer(served, req, res));
  served.port = await listenOnLoopback(server, options.port);
  const url = `http://127.0.0.1:${served.port}/?token=${served.token}`;
  return {
    url,
    port: served.port,
    line: `dashboard at ${url}`,
    close: () => closeDashboard(server, served.streams),
  };
}

/** The last scrub of everything sent: the source's full keys, then anything shaped like a key. */
const cleanOf = (served: Served) => (text: string) => scrubKeyShapes(served.source.scrub(text));

/** Answers one request; a failure is a 500 with its (scrubbed) message, or the end of a started answer. */
function answer(served: Served, req: IncomingMessage, res: ServerResponse): void {
  route(served, req, res).catch((error: unknown) => {
    const message = cleanOf(served)(error instanceof Error ? error.message : String(error));
    if (!res.headersSent) send(res, 500, 'text/plain', `${message}\n`);
    else res.end();
  });
}

/** The gate (loopback `Host`, the token, GET only), then the API or a file of the page. */
async function route(served: Served, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { port, source } = served;
  if (!allowedHost(req.headers.host, port)) return send(res, 403, 'text/plain', 'forbidden: bad Host\n');
  const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
  if (!hasToken(url, req.headers, served.token, port))
    return send(res, 403, 'text/plain', 'forbidden: no token\n');
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'GET only\n');
  const clean = cleanOf(served);
  const json = (value: unknown) =>
    send(res, 200, 'application/json; charset=utf-8', clean(JSON.stringify(value)));
  switch (url.pathname) {
    case '/api/summary':
      return json(source.tracker.summary);
    case '/api/events':
      return openEventStream(req, res, {
        tracker: source.tracker,
        clean,
        intervalMs: served.eventIntervalMs,
        streams: served.streams,
      });
    case '/api/rows':
      return json(await source.rows(parseRowsQuery(url.searchParams)));
  }
  return sendAsset(served, url.pathname, res);
}

/** A file of the page; the page itself sets the token cookie its own requests carry (scripts, styles, the event stream). */
function sendAsset(served: Served, pathname: string, res: ServerResponse): void {
  const asset = served.assets.get(pathname);
  if (!asset) {
    send(res, 404, 'text/plain', 'not found\n');
    return;
  }
  if (pathname === '/') {
    res.setHeader(
      'set-cookie',
      `${cookieName(served.port)}=${served.token}; Path=/; HttpOnly; SameSite=Strict`,
    );
  }
  send(res, 200, asset.type, asset.body);
}

/** Listens on 127.0.0.1 (`port` 0: any free one); a port in use is an `InputError` naming it. Returns the port. */
async function listenOnLoopback(server: Server, port: number | undefined): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'EADDRINUSE'
          ? new InputError(`--port ${port}: the port is in use on 127.0.0.1; pick another, or 0 for any`)
          : error,
      );
    };
    server.once('error', onError);
    server.listen(port ?? 0, '127.0.0.1', () => {
      server.off('error', onError);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/** Ends every event stream, then closes the server and every connection still open. */
function closeDashboard(server: Server, streams: Set<() => void>): Promise<void> {
  return new Promise<void>((resolve) => {
    for (const end of [...streams]) end();
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
