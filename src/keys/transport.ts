/**
 * Sending one attempt over HTTP. A request whose answer comes whole (a JSON body, or none) goes
 * through undici's `request` on keybatch's own agent: on Node 20 it costs about a quarter of the
 * CPU of the built-in `fetch` per request (bench/overhead.ts), which is what bounds a large batch
 * against a fast API. Streamed requests (`"stream": true`), other bodies (file uploads) and
 * redirects go through `fetch`.
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
import type { Agent } from 'undici';

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
  const { url, init, headers, signal } = attempt;
  if (attempt.viaFetch) return fetchAnswer(await fetchImpl(url, { ...init, headers, signal }));
  const plain: Record<string, string> = {};
  for (const [name, value] of headers) plain[name] = value;
  const { agent, request } = await loadUndici();
  const sent = await request(url, {
    dispatcher: agent,
    method: (init.method ?? 'GET') as 'GET',
    headers: plain,
    body: (init.body ?? null) as string | null,
    signal,
    // The attempt's own timer aborts first, with its own message.
    headersTimeout: attempt.timeoutMs + 1000,
    bodyTimeout: attempt.timeoutMs + 1000,
  });
  const { statusCode: status, body } = sent;
  const location = sent.headers['location'];
  if (REDIRECTS.has(status) && typeof location === 'string') {
    // fetch follows the rest of the way; 301/302/303 turn a POST into a GET without body, as fetch would.
    await body.dump();
    const target = new URL(location, url).href;
    const method = (init.method ?? 'GET').toUpperCase();
    if (status === 307 || status === 308 || method === 'GET' || method === 'HEAD') {
      return fetchAnswer(await fetchImpl(target, { ...init, headers, signal }));
    }
    const bare = new Headers(headers);
    bare.delete('content-type');
    return fetchAnswer(
      await fetchImpl(target, { ...init, method: 'GET', body: null, headers: bare, signal }),
    );
  }
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
