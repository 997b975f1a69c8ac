/**
 * Attempts that point at the key's endpoint (connection refused, TLS, a cross-origin redirect, a
 * 404 on a route that never answered the key) at the pool-fetch level, against real servers and
 * the real openai SDK: what the broker is told (`LeaseResult.unreachable`), that such attempts do
 * not count as the request's attempts, that the request moves to another key, and that every
 * lease goes back exactly once. The broker is a small real implementation of keybatch's own
 * `KeyBroker` interface that records every release.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { createClient } from '../../src/keys/client.js';
import { redactKey } from '../../src/keys/redact.js';
import { CrossOriginRedirect } from '../../src/keys/transport.js';
import type { KeyBroker, Lease, LeaseRequest, LeaseResult } from '../../src/keys/types.js';
import { endpointFailure } from '../../src/keys/unreachable.js';
import { useCleanup } from '../helpers.js';

const cleanup = useCleanup();
const KEY = 'sk-test-unreachable-SECRET-4321';
const OTHER = 'sk-test-unreachable-OTHER-8765';
const RETRY = { retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 } };

/** Leases its keys in turn; records every release and refuses a second release of one lease. */
class RecordingBroker implements KeyBroker {
  readonly releases: Array<{ lease: Lease; result: LeaseResult }> = [];
  readonly requests: LeaseRequest[] = [];
  private next = 0;
  private readonly open = new Set<number>();
  constructor(private readonly keys: Array<{ apiKey: string; baseURL: string }>) {}

  async acquire(request: LeaseRequest): Promise<Lease> {
    this.requests.push(request);
    const keyId = this.next % this.keys.length;
    const key = this.keys[keyId]!;
    this.next += 1;
    this.open.add(this.next);
    return {
      leaseId: this.next,
      keyId,
      label: redactKey(key.apiKey),
      apiKey: key.apiKey,
      baseURL: key.baseURL,
    };
  }

  release(lease: Lease, result: LeaseResult): void {
    if (!this.open.delete(lease.leaseId)) throw new Error(`lease ${lease.leaseId} released twice`);
    this.releases.push({ lease, result });
  }

  /** Leases not given back. */
  get outstanding(): number {
    return this.open.size;
  }

  results(): LeaseResult[] {
    return this.releases.map((one) => one.result);
  }
}

async function server(handle: (req: IncomingMessage, res: ServerResponse) => void) {
  const seen: IncomingMessage[] = [];
  const http = createServer((req, res) => {
    seen.push(req);
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
  return { url: `http://127.0.0.1:${port}/v1`, origin: `http://127.0.0.1:${port}`, port, seen };
}

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const http = createServer();
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  await new Promise<void>((resolve) => http.close(() => resolve()));
  return port;
}

const completion = {
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1,
  model: 'gpt-4o-mini',
  choices: [{ index: 0, message: { role: 'assistant', content: 'fine' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
};
const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};
const INVALID_URL = {
  error: {
    message: 'Invalid URL (POST /chat/completions)',
    type: 'invalid_request_error',
    param: null,
    code: null,
  },
};

const ask = (client: OpenAI) =>
  client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });

describe('an unreachable endpoint is the key’s problem, not the request’s', () => {
  it('a refused connection: unreachable on every release, not counted as attempts, bounded at 51', async () => {
    const port = await closedPort();
    const base = `http://127.0.0.1:${port}/v1`;
    const broker = new RecordingBroker([{ apiKey: KEY, baseURL: base }]);
    const error = await ask(createClient(broker, RETRY)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.APIConnectionError);
    // maxAttempts is 2: the 51 attempts are 50 moves away from an unreachable key, then the last.
    expect(broker.releases).toHaveLength(51);
    for (const result of broker.results()) {
      expect(result).toMatchObject({
        outcome: 'retryable',
        unreachable: `key sk-…4321: ${base} refused the connection (ECONNREFUSED)`,
      });
    }
    expect(broker.outstanding).toBe(0);
  });

  it('moves the request to another key, even with maxAttempts 1', async () => {
    const port = await closedPort();
    const good = await server((_req, res) => json(res, 200, completion));
    const broker = new RecordingBroker([
      { apiKey: KEY, baseURL: `http://127.0.0.1:${port}/v1` },
      { apiKey: OTHER, baseURL: good.url },
    ]);
    const client = createClient(broker, { retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 2 } });
    expect((await ask(client)).choices[0]?.message.content).toBe('fine');
    expect(broker.results().map((result) => [result.outcome, result.unreachable !== undefined])).toEqual([
      ['retryable', true],
      ['ok', false],
    ]);
    expect(broker.outstanding).toBe(0);
  });

  it('a 404 on a route that never answered the key (base_url without /v1): unreachable, with status 404', async () => {
    const api = await server((_req, res) => json(res, 404, INVALID_URL));
    const broker = new RecordingBroker([{ apiKey: KEY, baseURL: api.url }]);
    const error = await ask(createClient(broker, RETRY)).catch((caught: unknown) => caught);
    // After the bound, the answer is what it was before: the 404 itself.
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect(broker.releases).toHaveLength(51);
    expect(broker.results()[0]).toEqual({
      outcome: 'bad_request',
      status: 404,
      code: undefined,
      model: 'gpt-4o-mini',
      limits: undefined,
      unreachable: `key sk-…4321: ${api.url} answered 404 to POST /chat/completions (Invalid URL (POST /chat/completions)); check base_url (OpenAI-compatible APIs usually end in /v1)`,
    });
    expect(broker.outstanding).toBe(0);
  });

  it('a 404 on a route that already answered the key, or about a model, is the request’s own answer', async () => {
    let n = 0;
    const api = await server((_req, res) => {
      n += 1;
      if (n === 1) json(res, 200, completion);
      else if (n === 2) json(res, 404, INVALID_URL);
      else
        json(res, 404, {
          error: { message: 'no such model', type: 'invalid_request_error', code: 'model_not_found' },
        });
    });
    const broker = new RecordingBroker([{ apiKey: KEY, baseURL: api.url }]);
    const client = createClient(broker, RETRY);
    await ask(client);
    await expect(ask(client)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    expect(broker.results()[1]).toMatchObject({ outcome: 'bad_request', status: 404 });
    expect(broker.results()[1]?.unreachable).toBeUndefined();

    const fresh = new RecordingBroker([{ apiKey: OTHER, baseURL: api.url }]);
    const denied = createClient(fresh, { retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 2 } });
    // model_not_found moves to another key (the same one here, in turn) until the moves run out; stop it early.
    const controller = new AbortController();
    const asked = denied.chat.completions
      .create(
        { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] },
        { signal: controller.signal },
      )
      .catch((caught: unknown) => caught);
    await new Promise<void>((resolve) => {
      const check = () => (fresh.releases.length > 0 ? resolve() : setImmediate(check));
      check();
    });
    controller.abort();
    await asked;
    expect(fresh.results()[0]).toMatchObject({ outcome: 'denied', status: 404, code: 'model_not_found' });
    expect(fresh.results()[0]?.unreachable).toBeUndefined();
    expect(fresh.outstanding).toBe(0);
  });

  it('TLS failing (https to a plain HTTP server) is unreachable', async () => {
    const plain = await server((_req, res) => json(res, 200, completion));
    const base = `https://127.0.0.1:${plain.port}/v1`;
    const broker = new RecordingBroker([{ apiKey: KEY, baseURL: base }]);
    await expect(ask(createClient(broker, RETRY))).rejects.toBeInstanceOf(OpenAI.APIConnectionError);
    expect(broker.results()[0]?.unreachable).toMatch(
      new RegExp(
        `^key sk-…4321: ${base.replace(/[.]/g, '\\.')} failed the TLS handshake \\(ERR_SSL_\\w+\\)$`,
      ),
    );
    expect(broker.outstanding).toBe(0);
  });

  it('a cross-origin redirect: nothing reaches the other origin, the release says why', async () => {
    const other = await server((_req, res) => json(res, 200, completion));
    const api = await server((req, res) => {
      res.writeHead(307, { location: `${other.origin}${req.url}` });
      res.end();
    });
    const broker = new RecordingBroker([{ apiKey: KEY, baseURL: api.url }]);
    await expect(ask(createClient(broker, RETRY))).rejects.toBeInstanceOf(OpenAI.APIConnectionError);
    expect(other.seen).toHaveLength(0);
    expect(broker.results()[0]).toMatchObject({
      outcome: 'retryable',
      unreachable: `key sk-…4321: ${api.url} redirected to another origin (${other.origin}); keys are never sent across origins — set base_url to the API's real address`,
    });
    expect(broker.outstanding).toBe(0);
  });
});

describe('endpointFailure', () => {
  const wrapped = (code: string) =>
    new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code }) });
  it.each([
    ['ENOTFOUND', 'has a host name that does not resolve (ENOTFOUND)'],
    ['EAI_AGAIN', 'has a host name that could not be resolved (EAI_AGAIN)'],
    ['EHOSTUNREACH', 'cannot be reached (no route to host) (EHOSTUNREACH)'],
    ['ENETUNREACH', 'cannot be reached (network unreachable) (ENETUNREACH)'],
    ['CERT_HAS_EXPIRED', 'failed the TLS handshake (CERT_HAS_EXPIRED)'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'failed the TLS handshake (DEPTH_ZERO_SELF_SIGNED_CERT)'],
    ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'failed the TLS handshake (UNABLE_TO_GET_ISSUER_CERT_LOCALLY)'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'failed the TLS handshake (ERR_TLS_CERT_ALTNAME_INVALID)'],
  ])('finds %s through a cause chain', (code, said) => {
    expect(endpointFailure(wrapped(code))).toBe(said);
  });

  it('finds a code inside an AggregateError, and nothing in a reset or a timeout', () => {
    const refused = Object.assign(new Error('connect'), { code: 'ECONNREFUSED' });
    expect(endpointFailure(new TypeError('fetch failed', { cause: new AggregateError([refused]) }))).toBe(
      'refused the connection (ECONNREFUSED)',
    );
    expect(endpointFailure(wrapped('ECONNRESET'))).toBeUndefined();
    expect(endpointFailure(wrapped('UND_ERR_HEADERS_TIMEOUT'))).toBeUndefined();
    expect(endpointFailure(new CrossOriginRedirect('http://a', 'http://b'))).toMatch(
      /^redirected to another origin \(http:\/\/b\)/,
    );
  });
});
