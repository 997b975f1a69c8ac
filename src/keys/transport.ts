/**
 * Sending one attempt over HTTP. A request whose answer comes whole (a JSON body, or none) goes
 * through undici's `request` on keybatch's own agent: on Node 20 it costs about a quarter of the
 * CPU of the built-in `fetch` per request (bench/overhead.ts), which is what bounds a large batch
 * against a fast API. Streamed requests (`"stream": true`) and other bodies (file uploads) go
 * through `fetch`.
 *
 * Redirects are followed here, on both paths, up to 5 hops, and only within the origin of the
 * key's base URL: the request carries the key, so a redirect to another origin is refused
 * (`CrossOriginRedirect`) and nothing is sent there.
 */
import { pipeline, Readable } from 'node:stream';
import { promisify } from 'node:util';
import {
  brotliDecompress,
  createBrotliDecompress,
  createGunzip,
  createInflate,
  gunzip,
  inflate,
} from 'node:zlib';
import type { Agent, Dispatcher } from 'undici';

/** An answer's status line and headers, with its body not yet read. */
export interface Answer {
  status: number;
  statusText: string;
  url: string;
  headers: Headers;
  /** Reads the whole body as text. */
  text(): Promise<string>;
  /**
   * The answer as a fetch Response, body unread (streams and files, handed on as they come);
   * `onEnd` runs once the caller has read the body to the end.
   */
  response(onEnd: () => void): Response;
}

export interface Attempt {
  url: string;
  init: RequestInit;
  headers: Headers;
  signal: AbortSignal;
  /** The attempt's time limit; undici's own header and body timeouts (5 min) follow it. */
  timeoutMs: number;
  /** Send with `fetch` (a stream was asked for, or the body is not text). */
  viaFetch: boolean;
}

/**
 * One agent for every pool in this thread: keep-alive connections per origin, idle sockets unref'd.
 * undici loads on the first request (70 ms), not with keybatch: a CLI command or a worker thread
 * that sends nothing never pays for it.
 */
let undici: Promise<{ agent: Agent; request: typeof import('undici').request }> | undefined;

function loadUndici() {
  undici ??= import('undici').then(({ Agent, request }) => ({ agent: new Agent(), request }));
  return undici;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Redirects followed for one attempt, as fetch's own limit is 20 (a loop costs 6 requests, not 21). */
export const MAX_REDIRECTS = 5;

/** A redirect to an origin other than the key's base URL's: refused, nothing sent there. */
export class CrossOriginRedirect extends Error {
  readonly code = 'CROSS_ORIGIN_REDIRECT';
  /** The origin of the key's base URL. */
  readonly from: string;
  /** The origin redirected to (`unknown` when the fetch given hides it). */
  readonly to: string;
  constructor(from: string, to: string) {
    super(`${from} redirected to another origin (${to}); keys are never sent across origins`);
    this.name = 'CrossOriginRedirect';
    this.from = from;
    this.to = to;
  }
}

/** The next hop of a redirect: its URL, and whether it becomes a GET without a body (as fetch does). */
function nextHop(status: number, location: string, current: string, origin: string, method: string) {
  const target = new URL(location, current);
  if (target.origin !== origin) throw new CrossOriginRedirect(origin, target.origin);
  const upper = method.toUpperCase();
  const asGet =
    (status === 303 && upper !== 'HEAD') || ((status === 301 || status === 302) && upper === 'POST');
  return { url: target.href, asGet };
}

function tooManyRedirects(url: string): Error {
  return new Error(`${url}: more than ${MAX_REDIRECTS} redirects`);
}

const decompress: Record<string, (data: Buffer) => Promise<Buffer>> = {
  gzip: promisify(gunzip),
  'x-gzip': promisify(gunzip),
  deflate: promisify(inflate),
  br: promisify(brotliDecompress),
};

const decompressStream: Record<string, () => NodeJS.ReadWriteStream> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

function fetchAnswer(response: Response): Answer {
  return {
    status: response.status,
    statusText: response.statusText,
    url: response.url,
    headers: response.headers,
    text: () => response.text(),
    response: (onEnd) => {
      if (!response.body) {
        onEnd();
        return response;
      }
      const { status, statusText, headers, url } = response;
      const body = response.body.pipeThrough(new TransformStream({ flush: onEnd }));
      return Object.defineProperty(new Response(body, { status, statusText, headers }), 'url', {
        value: url,
      });
    },
  };
}

/** Sends one attempt; resolves at the answer's headers. Rejects as fetch does (network, abort). */
export async function send(attempt: Attempt, fetchImpl: typeof fetch): Promise<Answer> {
  return attempt.viaFetch ? sendFetch(attempt, fetchImpl) : sendRequest(attempt);
}

/** Through `fetch`, following same-origin redirects itself (`redirect: 'manual'`). */
async function sendFetch(attempt: Attempt, fetchImpl: typeof fetch): Promise<Answer> {
  const { init, signal } = attempt;
  const origin = new URL(attempt.url).origin;
  let url = attempt.url;
  let hopInit: RequestInit = { ...init, headers: attempt.headers, signal, redirect: 'manual' };
  for (let hop = 0; ; hop++) {
    const response = await fetchImpl(url, hopInit);
    // A fetch of the caller's that hides the redirect (as browsers do) cannot be followed safely.
    if (response.type === 'opaqueredirect') throw new CrossOriginRedirect(origin, 'unknown');
    const location = response.headers.get('location');
    if (!REDIRECTS.has(response.status) || location === null) return fetchAnswer(response);
    const replayable = !(init.body instanceof ReadableStream);
    const method = hopInit.method ?? 'GET';
    let next: ReturnType<typeof nextHop>;
    try {
      next = nextHop(response.status, location, url, origin, method);
    } catch (error) {
      await response.body?.cancel().catch(() => {});
      throw error;
    }
    // A body sent as a stream cannot be sent again: the redirect itself is the answer.
    if (!next.asGet && !replayable) return fetchAnswer(response);
    await response.body?.cancel().catch(() => {});
    if (hop >= MAX_REDIRECTS) throw tooManyRedirects(attempt.url);
    url = next.url;
    if (next.asGet) {
      const headers = new Headers(attempt.headers);
      headers.delete('content-type');
      headers.delete('content-length');
      hopInit = { ...hopInit, method: 'GET', body: null, headers };
    }
  }
}

/** Through undici's `request` (a text body or none), following same-origin redirects. */
async function sendRequest(attempt: Attempt): Promise<Answer> {
  const { init, signal } = attempt;
  const origin = new URL(attempt.url).origin;
  const headers: Record<string, string> = {};
  for (const [name, value] of attempt.headers) headers[name] = value;
  const { agent, request } = await loadUndici();
  let url = attempt.url;
  let method = init.method ?? 'GET';
  let body = (init.body ?? null) as string | null;
  for (let hop = 0; ; hop++) {
    const sent = await request(url, {
      dispatcher: agent,
      method: method as 'GET',
      headers,
      body,
      signal,
      // The attempt's own timer aborts first, with its own message.
      headersTimeout: attempt.timeoutMs + 1000,
      bodyTimeout: attempt.timeoutMs + 1000,
    });
    const location = sent.headers['location'];
    if (!REDIRECTS.has(sent.statusCode) || typeof location !== 'string') return wholeAnswer(sent, url);
    await sent.body.dump();
    const next = nextHop(sent.statusCode, location, url, origin, method);
    if (hop >= MAX_REDIRECTS) throw tooManyRedirects(attempt.url);
    url = next.url;
    if (next.asGet) {
      method = 'GET';
      body = null;
      delete headers['content-type'];
      delete headers['content-length'];
    }
  }
}

/** An answer of undici's `request`, body unread. */
function wholeAnswer(sent: Dispatcher.ResponseData, url: string): Answer {
  const { statusCode: status, body } = sent;
  const answerHeaders = new Headers();
  for (const name in sent.headers) {
    const value = sent.headers[name];
    if (Array.isArray(value)) for (const item of value) answerHeaders.append(name, item);
    else if (value !== undefined) answerHeaders.append(name, value);
  }
  const encoding = answerHeaders.get('content-encoding')?.trim().toLowerCase();
  const inflater = encoding ? decompress[encoding] : undefined;
  const statusText = sent.statusText ?? '';
  return {
    status,
    statusText,
    url,
    headers: answerHeaders,
    text: async () =>
      inflater ? (await inflater(Buffer.from(await body.arrayBuffer()))).toString('utf8') : body.text(),
    response: (onEnd) => {
      const init = { status, statusText, headers: answerHeaders };
      if (status === 204 || status === 205 || status === 304) {
        onEnd();
        return new Response(null, init);
      }
      const inflate = encoding ? decompressStream[encoding] : undefined;
      const stream = (inflate ? pipeline(body, inflate(), () => {}) : body) as Readable;
      stream.once('end', onEnd);
      const response = new Response(Readable.toWeb(stream) as ReadableStream<Uint8Array>, init);
      return Object.defineProperty(response, 'url', { value: url });
    },
  };
}
