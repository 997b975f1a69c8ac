/**
 * Security rails of the pool client, against real servers and the real openai SDK: no credential
 * ever reaches an origin other than the key's base URL (a cross-origin redirect is refused, on the
 * undici path, the fetch path for streams and a fetch of the caller's); a key a header cannot carry
 * never leaks its lease or itself; scrubbing catches a key's long pieces.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { createClient } from '../../src/keys/client.js';
import { KeyPool } from '../../src/keys/key-pool.js';
import { scrubHead, scrubSecret, scrubSecrets } from '../../src/keys/redact.js';
import { collectingLogger, useCleanup } from '../helpers.js';

const cleanup = useCleanup();
const KEY = 'sk-test-security-SECRET-a1b2c3d4e5f6';
const ORG = 'org-security-test-0001';
const RETRY = { retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 } };

/** Every piece of `secret` of 12 characters, the shortest that must never be seen. */
function pieces(secret: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 12 <= secret.length; i++) out.push(secret.slice(i, i + 12));
  return out;
}

function expectNoPiece(label: string, text: string, secret = KEY): void {
  const found = pieces(secret).find((piece) => text.includes(piece));
  if (found) throw new Error(`${label} holds a piece of the key (${found.slice(0, 4)}…)`);
}

interface Seen {
  url: string;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
}

async function server(handle: (req: IncomingMessage, res: ServerResponse) => void) {
  const seen: Seen[] = [];
  const http = createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders });
    req.resume();
    req.on('end', () => handle(req, res));
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
  return { url: `http://127.0.0.1:${port}/v1`, origin: `http://127.0.0.1:${port}`, seen };
}

const completion = {
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1,
  model: 'gpt-4o-mini',
  choices: [{ index: 0, message: { role: 'assistant', content: 'leaked through' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
};

/** Answers a chat request whole, or as a stream when it asks for one. */
function answer(res: ServerResponse, streamed: boolean): void {
  if (!streamed) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(completion));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const chunk = {
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'gpt-4o-mini',
    choices: [{ index: 0, delta: { role: 'assistant', content: 'streamed' }, finish_reason: null }],
  };
  res.end(`data: ${JSON.stringify(chunk)}\n\ndata: [DONE]\n\n`);
}

async function poolFor(baseURL: string, waitTimeoutMs = 300) {
  const logger = collectingLogger();
  const pool = await KeyPool.open(
    { key_list: [{ api_key: KEY, base_url: baseURL, organization: ORG }] },
    { logger, notify: false, waitTimeoutMs },
  );
  cleanup(pool);
  return { pool, logger };
}

async function chat(client: OpenAI, streamed: boolean): Promise<string> {
  const messages = [{ role: 'user' as const, content: 'hello' }];
  if (!streamed) {
    const done = await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
    return done.choices[0]?.message.content ?? '';
  }
  const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true });
  let text = '';
  for await (const part of stream) text += part.choices[0]?.delta.content ?? '';
  return text;
}

describe('credentials never cross origins', () => {
  const cases = [301, 302, 307, 308].flatMap((status) =>
    (['whole', 'streamed', "caller's fetch"] as const).map((path) => ({ status, path })),
  );

  it.each(cases)(
    'a $status to another origin ($path) is refused: the other origin sees nothing',
    async ({ status, path }) => {
      const streamed = path === 'streamed';
      const other = await server((req, res) => answer(res, streamed || req.headers.accept === 'x'));
      const api = await server((req, res) => {
        res.writeHead(status, { location: `${other.origin}${req.url}` });
        res.end();
      });
      const { pool, logger } = await poolFor(api.url);
      const client = createClient(pool, { ...RETRY, ...(path === "caller's fetch" ? { fetch } : {}) });
      const error = await chat(client, streamed).catch((caught: unknown) => caught);
      // Refused: a connection error after the bounded moves, or NO_USABLE_KEY once the pool gives up on the key.
      expect(error).toBeInstanceOf(Error);
      expect(api.seen.length).toBeGreaterThan(0);
      expect(api.seen[0]?.headers.authorization).toBe(`Bearer ${KEY}`);
      // Not one request reached the other origin, so not one header of it could carry the key.
      expect(other.seen).toHaveLength(0);
      for (const one of other.seen) expectNoPiece(`header of ${one.url}`, one.rawHeaders.join('\n'));
      expect(pool.status().keys[0]?.inFlight).toBe(0);
      expectNoPiece('logs', logger.text());
      expectNoPiece('error', `${String(error)} ${String((error as Error).cause)} ${(error as Error).stack}`);
    },
  );

  it.each([
    ['whole', false],
    ['streamed', true],
  ])('a same-origin redirect (%s) is followed with the credentials', async (_name, streamed) => {
    const api = await server((req, res) => {
      if (req.url?.startsWith('/v1/')) {
        res.writeHead(307, { location: req.url.replace('/v1/', '/v2/') });
        res.end();
        return;
      }
      answer(res, streamed);
    });
    const { pool } = await poolFor(api.url);
    expect(await chat(createClient(pool, RETRY), streamed)).toBe(streamed ? 'streamed' : 'leaked through');
    expect(api.seen.map((one) => one.url)).toEqual(['/v1/chat/completions', '/v2/chat/completions']);
    expect(api.seen[1]?.headers).toMatchObject({
      authorization: `Bearer ${KEY}`,
      'openai-organization': ORG,
    });
    expect(pool.status().keys[0]).toMatchObject({ inFlight: 0, successes: 1 });
  });

  it('a redirect loop stops after 5 hops per attempt', async () => {
    const api = await server((req, res) => {
      res.writeHead(302, { location: req.url ?? '/' });
      res.end();
    });
    const { pool } = await poolFor(api.url);
    await expect(chat(createClient(pool, RETRY), false)).rejects.toBeInstanceOf(OpenAI.APIConnectionError);
    // 2 attempts, each the request and 5 redirects followed.
    expect(api.seen).toHaveLength(12);
    expect(pool.status().keys[0]?.inFlight).toBe(0);
  });
});

describe('a key a header cannot carry', () => {
  it.each([
    ['api_key', { apiKey: `${KEY.slice(0, 10)}\n${KEY.slice(10)}` }],
    ['organization', { apiKey: KEY, organization: 'org-\u2026bad' }],
  ])(
    '(%s, given past parseConfig through pool.reload) frees its lease and never shows the key',
    async (_f, key) => {
      const api = await server((_req, res) => answer(res, false));
      const { pool, logger } = await poolFor(api.url);
      pool.reload({ keyIndex: 0, keys: [Object.freeze({ ...key, baseUrl: api.url })] });
      const error = await chat(createClient(pool, RETRY), false).catch((caught: unknown) => caught);
      expect((error as { code?: string }).code).toBe('NO_USABLE_KEY');
      expect(api.seen).toHaveLength(0);
      expect(pool.status().keys[0]).toMatchObject({ inFlight: 0, state: 'invalid' });
      expect(logger.text()).toContain('invalid_header_value');
      const everything = [
        String(error),
        (error as Error).stack,
        String((error as Error).cause),
        logger.text(),
      ].join('\n');
      expectNoPiece('error and logs', everything, key.apiKey.replace('\n', ''));
      expect(everything).not.toContain(key.apiKey.slice(0, 10));
    },
  );
});

describe('scrubbing', () => {
  it('replaces a key and every piece of it of 12 characters or more, and nothing shorter', () => {
    const text = `a ${KEY} b ${KEY.slice(0, -1)} c ${KEY.slice(5, 17)} d ${KEY.slice(3, 14)} e`;
    expect(scrubSecret(text, KEY, 'sk-…e5f6')).toBe(
      `a sk-…e5f6 b sk-…e5f6 c sk-…e5f6 d ${KEY.slice(3, 14)} e`,
    );
    // Every offset and length from 12 up is caught.
    for (let start = 0; start + 12 <= KEY.length; start++) {
      for (let end = start + 12; end <= KEY.length; end++) {
        expect(scrubSecret(`#${KEY.slice(start, end)}#`, KEY, 'L')).toBe('#L#');
      }
    }
  });

  it('a key shorter than 16 characters is replaced only whole', () => {
    const short = 'sk-short-0001';
    expect(scrubSecret(`${short} ${short.slice(0, 12)}`, short)).toBe(`sk-…0001 ${short.slice(0, 12)}`);
  });

  it('a stream chunk holds back only what may be the start of a piece going on in the next chunk', () => {
    expect(scrubHead('data: {"a":1}\n\n', KEY, 'L')).toEqual({ head: 'data: {"a":1}\n\n', tail: '' });
    expect(scrubHead(`data: ${KEY.slice(0, 20)}`, KEY, 'L')).toEqual({
      head: 'data: ',
      tail: KEY.slice(0, 20),
    });
    expect(scrubHead(`${KEY} and more text than a key holds, ending in a space `, KEY, 'L').head).toBe(
      'L and more text than a key holds, ending in a space ',
    );
  });

  it('keys sharing a long prefix give one label, that of the key found longest', () => {
    const a = 'sk-test-shared-prefix-aaaa-1111';
    const b = 'sk-test-shared-prefix-bbbb-2222';
    expect(scrubSecrets(`[${b}] [${a}]`, [a, b])).toBe('[sk-…2222] [sk-…1111]');
  });
});
