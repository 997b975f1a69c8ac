/**
 * What the dashboard server writes: plain answers with its security headers, and the event stream
 * of the summary (each second, on change at most every `intervalMs`, closed once the run ended).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SummaryTracker } from './summary.js';

/** On every answer: nothing cached, no sniffing or framing, no referrer, only the package's own scripts. */
export const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy':
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
};

export function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': type,
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** How long a browser waits before it reconnects a dropped stream (the SSE `retry` field). */
const RECONNECT_MS = 2000;

/** A summary goes out at least this often, so the page's rate and ETA move while nothing changes. */
const TICK_MS = 1000;

export interface EventStreamOptions {
  readonly tracker: SummaryTracker;
  /** The last scrub of everything sent. */
  readonly clean: (text: string) => string;
  /** Least time between two events, however often the summary changes. */
  readonly intervalMs: number;
  /** The open streams' `end`: a stream adds itself and leaves when it ends or its client goes. */
  readonly streams: Set<() => void>;
}

/**
 * Answers `req` with the summary as server-sent events. A run that has ended changes no more: the
 * page is told so and the stream closes, so a browser holds no connection open (and does not
 * reconnect) for a finished run.
 */
export function openEventStream(
  req: IncomingMessage,
  res: ServerResponse,
  options: EventStreamOptions,
): void {
  const { tracker, clean, intervalMs, streams } = options;
  res.writeHead(200, {
    ...SECURITY_HEADERS,
    'content-type': 'text/event-stream; charset=utf-8',
    connection: 'keep-alive',
  });
  res.write(`retry: ${RECONNECT_MS}\n\n`);
  let lastSent = 0;
  let pending: NodeJS.Timeout | undefined;
  const push = () => {
    pending = undefined;
    lastSent = Date.now();
    const summary = tracker.summary;
    res.write(`event: summary\ndata: ${clean(JSON.stringify(summary))}\n\n`);
    if (summary.state !== 'running') {
      res.write('event: end\ndata: {}\n\n');
      end();
    }
  };
  const onChange = () => {
    if (pending) return;
    const wait = lastSent + intervalMs - Date.now();
    if (wait <= 0) push();
    else pending = setTimeout(push, wait);
  };
  const tick = setInterval(push, TICK_MS);
  tracker.on('change', onChange);
  const stop = () => {
    clearInterval(tick);
    clearTimeout(pending);
    tracker.off('change', onChange);
    streams.delete(end);
  };
  const end = () => {
    stop();
    res.end();
  };
  streams.add(end);
  req.on('close', stop);
  push();
}
