/**
 * What an answer leaves behind, through runPrompts over a real server and the real openai SDK: a
 * 2xx answer that echoes the key (or a piece of it) is redacted in the output, the lane files and
 * the audit log; an error body is cut to 4 KiB wherever it is copied (row, lane record, audit line).
 */
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createClient } from '../../src/keys/client.js';
import { KeyPool } from '../../src/keys/key-pool.js';
import { runPrompts } from '../../src/prompts/index.js';
import { collectingLogger, useCleanup, useTempDir } from '../helpers.js';

const cleanup = useCleanup();
const tempDir = useTempDir();
const KEY = 'sk-test-answers-SECRET-0a1b2c3d4e5f';

async function server(handle: (body: string, res: ServerResponse) => void) {
  const http = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (part: string) => {
      body += part;
    });
    req.on('end', () => handle(body, res));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  cleanup({
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  });
  return `http://127.0.0.1:${(http.address() as AddressInfo).port}/v1`;
}

function completion(content: string) {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1,
    model: 'gpt-4o-mini',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  };
}

/** Every file a run wrote: the output, its run directory, the audit logs. */
async function everything(dir: string): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  const walk = async (at: string) => {
    for (const entry of await readdir(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) await walk(path);
      else out.push([path, await readFile(path, 'utf8')]);
    }
  };
  await walk(dir);
  return out;
}

async function run(baseURL: string, prompts: Array<{ id: string; prompt: string }>) {
  const dir = await tempDir();
  const output = join(dir, 'out.jsonl');
  const logger = collectingLogger();
  const summary = await runPrompts({ key_list: [{ api_key: KEY, base_url: baseURL }] }, prompts, {
    output,
    model: 'gpt-4o-mini',
    handleSignals: false,
    logger,
    logDir: join(dir, 'logs'),
    pool: { watch: false, notify: false },
    client: { retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 } },
  });
  const rows = (await readFile(output, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { dir, rows, logger, summary };
}

describe('answers leave no key and no huge body behind', () => {
  it('a 2xx answer echoing the key, or a piece of it, is redacted in the output, lane files and audit log', async () => {
    const echoes = [KEY, KEY.slice(0, -1), KEY.slice(4, 20)];
    const url = await server((_body, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(completion(`you sent ${echoes.join(' and ')}.`)));
    });
    const { dir, rows, logger } = await run(url, [{ id: 'a', prompt: 'echo my key' }]);
    expect(rows[0]?.['response']).toBe('you sent sk-…4e5f and sk-…4e5f and sk-…4e5f.');
    const files = await everything(dir);
    expect(files.map(([path]) => path).some((path) => path.includes('logs'))).toBe(true);
    for (const [path, text] of [...files, ['logs', logger.text()] as [string, string]]) {
      for (let i = 0; i + 12 <= KEY.length; i++) {
        if (text.includes(KEY.slice(i, i + 12))) throw new Error(`${path} holds a piece of the key`);
      }
    }
  });

  it('an answer or an error echoing another key of the pool is redacted too, not only the key that served it', async () => {
    const other = 'sk-test-answers-OTHER-9z8y7x6w5v4u';
    const url = await server((body, res) => {
      const fail = body.includes('fail');
      res.writeHead(fail ? 400 : 200, { 'content-type': 'application/json' });
      const text = `both keys: ${KEY} and ${other}.`;
      res.end(JSON.stringify(fail ? { error: { message: text, code: 'bad' } } : completion(text)));
    });
    const dir = await tempDir();
    const output = join(dir, 'out.jsonl');
    const logger = collectingLogger();
    const config = {
      key_list: [
        { api_key: KEY, base_url: url },
        { api_key: other, base_url: url },
      ],
    };
    await runPrompts(
      config,
      [
        { id: 'ok', prompt: 'echo' },
        { id: 'bad', prompt: 'fail' },
      ],
      {
        output,
        model: 'gpt-4o-mini',
        handleSignals: false,
        logger,
        logDir: join(dir, 'logs'),
        pool: { watch: false, notify: false },
        client: { retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 2 } },
      },
    );
    const text = await readFile(output, 'utf8');
    expect(text).toContain('both keys: sk-…4e5f and sk-…5v4u.');
    for (const [path, content] of [...(await everything(dir)), ['logs', logger.text()] as [string, string]]) {
      for (const secret of [KEY, other]) {
        for (let i = 0; i + 12 <= secret.length; i++) {
          if (content.includes(secret.slice(i, i + 12))) throw new Error(`${path} holds a piece of a key`);
        }
      }
    }
  });

  it('a 400 with a 2 MB HTML body: the row, the lane record and the audit line hold at most 4 KiB of it', async () => {
    const page = `<html><body>${'<p>server error page</p>'.repeat(90_000)}</body></html>`;
    expect(page.length).toBeGreaterThan(2_000_000);
    const url = await server((_body, res) => {
      res.writeHead(400, { 'content-type': 'text/html' });
      res.end(page);
    });
    const { dir, rows } = await run(url, [{ id: 'big', prompt: 'x' }]);
    const error = rows[0]?.['error'] as { status: number; message: string };
    expect(error.status).toBe(400);
    expect(Buffer.byteLength(error.message)).toBeLessThanOrEqual(4300);
    expect(error.message).toMatch(/… \[truncated: \d+ bytes\]$/);
    const left = Number(/truncated: (\d+) bytes/.exec(error.message)?.[1]);
    expect(left).toBeGreaterThan(page.length - 4200);
    for (const [path, text] of await everything(dir)) {
      expect(text.length, path).toBeLessThan(20_000);
    }
  });

  it('a streamed answer echoing the key is redacted too, also when the key is split between chunks', async () => {
    const chunk = (content: string) =>
      `data: ${JSON.stringify({
        id: 'c',
        object: 'chat.completion.chunk',
        created: 1,
        model: 'gpt-4o-mini',
        choices: [{ index: 0, delta: { content }, finish_reason: null }],
      })}\n\n`;
    const url = await server((_body, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const events = chunk(`key: ${KEY}!`) + chunk(`piece: ${KEY.slice(3, 19)}!`) + 'data: [DONE]\n\n';
      // Written in pieces of 7 bytes, each its own network write.
      const parts = events.match(/[\s\S]{1,7}/g) ?? [];
      const next = () => {
        const part = parts.shift();
        if (part === undefined) res.end();
        else res.write(part, () => setImmediate(next));
      };
      next();
    });
    const pool = await KeyPool.open(
      { key_list: [{ api_key: KEY, base_url: url }] },
      { logger: collectingLogger(), notify: false },
    );
    cleanup(pool);
    const stream = await createClient(pool).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
    });
    let text = '';
    for await (const part of stream) text += part.choices[0]?.delta.content ?? '';
    expect(text).toBe('key: sk-…4e5f!piece: sk-…4e5f!');
    expect(pool.status().keys[0]).toMatchObject({ inFlight: 0, successes: 1 });
  });

  it('a streamed answer echoing another key of the pool, split over many writes, is redacted too', async () => {
    const other = 'sk-test-answers-OTHER-9z8y7x6w5v4u';
    const event = (content: string) =>
      `data: ${JSON.stringify({
        id: 'c',
        object: 'chat.completion.chunk',
        created: 1,
        model: 'gpt-4o-mini',
        choices: [{ index: 0, delta: { content }, finish_reason: null }],
      })}\n\n`;
    const url = await server((_body, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const events = event(`other: ${other}!`) + event(`piece: ${other.slice(2, 20)}!`) + 'data: [DONE]\n\n';
      const parts = events.match(/[\s\S]{1,7}/g) ?? [];
      const next = () => {
        const part = parts.shift();
        if (part === undefined) res.end();
        else res.write(part, () => setImmediate(next));
      };
      next();
    });
    const pool = await KeyPool.open(
      {
        key_list: [
          { api_key: KEY, base_url: url },
          { api_key: other, base_url: `${url}/other` },
        ],
      },
      { logger: collectingLogger(), notify: false },
    );
    cleanup(pool);
    const stream = await createClient(pool).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
    });
    let text = '';
    for await (const part of stream) text += part.choices[0]?.delta.content ?? '';
    expect(text).toMatch(/^other: sk-…5v4u!piece: /);
    for (const secret of [KEY, other]) {
      for (let i = 0; i + 12 <= secret.length; i++) expect(text).not.toContain(secret.slice(i, i + 12));
    }
  });
});
