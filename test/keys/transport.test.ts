/**
 * The pool client's HTTP layer (undici's request for whole answers, fetch for the rest) against
 * small real servers for what the simulator does not do: compressed answers, redirects, a body cut
 * off after its headers, and a file download.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { createClient } from '../../src/keys/client.js';
import { KeyPool } from '../../src/keys/key-pool.js';
import { collectingLogger, useCleanup } from '../helpers.js';

const cleanup = useCleanup();
const KEY = 'sk-test-transport-9999';
const FAST = { retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 } };

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  acceptEncoding: string | undefined;
  body: string;
}

/** A real HTTP server on loopback; `handle` answers each request (its body already read). */
async function server(handle: (req: IncomingMessage, res: ServerResponse, seen: Seen, n: number) => void) {
  const seen: Seen[] = [];
  const http = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (part: string) => {
      body += part;
    });
    req.on('end', () => {
      const one = {
        method: req.method ?? '',
        url: req.url ?? '',
        authorization: req.headers.authorization,
        acceptEncoding: req.headers['accept-encoding'],
        body,
      };
      seen.push(one);
      handle(req, res, one, seen.length);
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  cleanup({
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  });
  const { port } = http.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/v1`, seen };
}

async function clientFor(baseURL: string) {
  const pool = await KeyPool.open(
    { key_list: [{ api_key: KEY, base_url: baseURL }] },
    { logger: collectingLogger(), notify: false },
  );
  cleanup(pool);
  return { pool, client: createClient(pool, FAST) };
}

function completion(content: string) {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1,
    model: 'gpt-4o-mini',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
  };
}

/** `promise`, or a rejection naming `what` after a deadline generous enough for a loaded machine. */
async function within<T>(promise: Promise<T>, what: string, ms = 20_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

const ask = (client: OpenAI, text: string) =>
  client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: text }] });

describe('the pool client over HTTP', () => {
  it('sends the leased key, asks for no compression, and reads a gzip answer sent anyway', async () => {
    const { url, seen } = await server((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end(gzipSync(JSON.stringify(completion('zipped'))));
    });
    const { pool, client } = await clientFor(url);
    const answer = await ask(client, 'hello');
    expect(answer.choices[0]?.message.content).toBe('zipped');
    expect(seen[0]).toMatchObject({
      method: 'POST',
      url: '/v1/chat/completions',
      authorization: `Bearer ${KEY}`,
    });
    expect(seen[0]?.acceptEncoding).toBeUndefined();
    expect(JSON.parse(seen[0]?.body ?? '')).toMatchObject({ model: 'gpt-4o-mini' });
    expect(pool.status().keys[0]).toMatchObject({ successes: 1, tokens: 7, inFlight: 0 });
  });

  it('follows a 307 redirect with the request as sent', async () => {
    const { url, seen } = await server((req, res, one) => {
      if (req.url === '/v1/chat/completions') {
        res.writeHead(307, { location: '/v2/chat/completions' });
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(completion(`moved: ${JSON.parse(one.body).messages[0].content}`)));
    });
    const { client } = await clientFor(url);
    expect((await ask(client, 'here')).choices[0]?.message.content).toBe('moved: here');
    expect(seen.map((one) => one.url)).toEqual(['/v1/chat/completions', '/v2/chat/completions']);
    expect(seen[1]?.authorization).toBe(`Bearer ${KEY}`);
  });

  it('retries an answer whose body is cut off after its headers, and frees the lease', async () => {
    const { url, seen } = await server((_req, res, _one, n) => {
      const body = JSON.stringify(completion('whole'));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) });
      if (n === 1) {
        res.write(body.slice(0, 10));
        setTimeout(() => res.socket?.destroy(), 20);
        return;
      }
      res.end(body);
    });
    const { pool, client } = await clientFor(url);
    expect((await ask(client, 'again')).choices[0]?.message.content).toBe('whole');
    expect(seen).toHaveLength(2);
    expect(pool.status().keys[0]).toMatchObject({ successes: 1, inFlight: 0, errors: { retryable: 1 } });
  });

  it('a body cut off on every attempt fails as a connection error after the retries', async () => {
    const { url, seen } = await server((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"id":');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const { pool, client } = await clientFor(url);
    await expect(ask(client, 'never whole')).rejects.toBeInstanceOf(OpenAI.APIConnectionError);
    expect(seen).toHaveLength(3);
    expect(pool.status().keys[0]).toMatchObject({ successes: 0, inFlight: 0, errors: { retryable: 3 } });
  });

  it("the caller's abort stops a request in flight: the connection is dropped and the lease freed", async () => {
    // Event-based: the abort comes once the server has the whole request, and the test waits for
    // the server to see its socket close (the lease alone is granted before anything is sent).
    let arrived!: () => void;
    let closed!: () => void;
    const requestArrived = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const socketClosed = new Promise<void>((resolve) => {
      closed = resolve;
    });
    const { url } = await server((req) => {
      req.socket.once('close', closed);
      arrived();
    });
    const { pool, client } = await clientFor(url);
    const controller = new AbortController();
    const asked = client.chat.completions.create(
      { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'never answered' }] },
      { signal: controller.signal },
    );
    // The rejection is handled from the start, whatever happens before it is awaited.
    const outcome = asked.then(
      () => 'answered',
      (error: unknown) => error,
    );
    await within(requestArrived, 'the server to get the request');
    expect(pool.status().keys[0]?.inFlight).toBe(1);
    controller.abort();
    expect(await within(outcome, 'the request to reject')).toBeInstanceOf(OpenAI.APIUserAbortError);
    await within(socketClosed, 'the server to see the connection closed');
    expect(pool.status().keys[0]).toMatchObject({ inFlight: 0, successes: 0 });
  });

  it("sends every request through a fetch of the caller's when one is given", async () => {
    const { url } = await server((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(completion('through yours')));
    });
    const pool = await KeyPool.open(
      { key_list: [{ api_key: KEY, base_url: url }] },
      { logger: collectingLogger(), notify: false },
    );
    cleanup(pool);
    const sent: string[] = [];
    const own: typeof fetch = (input, init) => {
      sent.push(String(input));
      return fetch(input, init);
    };
    const client = createClient(pool, { ...FAST, fetch: own });
    expect((await ask(client, 'proxied')).choices[0]?.message.content).toBe('through yours');
    expect(sent).toEqual([`${url}/chat/completions`]);
  });

  it('hands a file download on as a stream', async () => {
    const { url } = await server((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write('{"a":1}\n');
      setTimeout(() => res.end('{"a":2}\n'), 20);
    });
    const { pool, client } = await clientFor(url);
    const response = await client.files.content('file-1');
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('{"a":1}\n{"a":2}\n');
    expect(pool.status().keys[0]).toMatchObject({ successes: 1, inFlight: 0 });
  });
});
