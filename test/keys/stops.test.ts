/**
 * Honest stops of the key pool against real HTTP servers: absurd waits a server asks for are
 * clamped (no timer overflow, no busy loop), a wait past the wait timeout stops at once, and a pool
 * whose only key cools for long is "blocked" (said once, notified) like a spent pool.
 */
import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NoUsableKeyError } from '../../src/errors.js';
import { createClient } from '../../src/keys/client.js';
import { KeyPool } from '../../src/keys/key-pool.js';
import { startSimulator } from '../../src/sim/index.js';
import { collectingLogger, receiver, until, useCleanup, useTempDir } from '../helpers.js';

const cleanup = useCleanup();
const tempDir = useTempDir();
const DAY = 86_400_000;

/** A server answering every request with `answer`; counts what it received. */
async function server(answer: (req: IncomingMessage, res: ServerResponse, n: number) => void) {
  let requests = 0;
  const http = createServer((req, res) => {
    req.resume();
    req.on('end', () => answer(req, res, ++requests));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as { port: number };
  return cleanup({
    url: `http://127.0.0.1:${port}/v1`,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  });
}

const RATE_LIMITED = JSON.stringify({
  error: { message: 'Rate limit reached', type: 'requests', code: 'rate_limit_exceeded' },
});

/** A 429 rate-limit answer with these headers. */
function tooMany(headers: Record<string, string>) {
  return (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(429, { 'content-type': 'application/json', ...headers });
    res.end(RATE_LIMITED);
  };
}

function ok(res: ServerResponse) {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(
    JSON.stringify({
      id: 'c1',
      object: 'chat.completion',
      created: 0,
      model: 'gpt-4o-mini',
      choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
    }),
  );
}

/** TimeoutOverflowWarnings emitted during the test. */
let overflows: string[] = [];
const onWarning = (warning: Error) => {
  if (warning.name === 'TimeoutOverflowWarning') overflows.push(warning.message);
};
beforeEach(() => {
  overflows = [];
  process.on('warning', onWarning);
});
afterEach(() => {
  process.off('warning', onWarning);
});

async function openPool(
  config: Parameters<typeof KeyPool.open>[0],
  options: Parameters<typeof KeyPool.open>[1],
) {
  const logger = collectingLogger();
  const pool = cleanup(await KeyPool.open(config, { logger, notify: false, env: {}, ...options }));
  return { pool, logger };
}

const ask = (pool: KeyPool, signal?: AbortSignal) =>
  createClient(pool).chat.completions.create(
    { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] },
    signal ? { signal } : {},
  );

/** Lets timers and I/O run for a while (to see that nothing spins; not waiting for anything to happen). */
const idle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('absurd waits from a server are clamped', () => {
  it.each([
    ['retry-after: 1e9 seconds', { 'retry-after': '1000000000' }],
    ['retry-after-ms: 1e12', { 'retry-after-ms': '1000000000000' }],
    ['x-ratelimit-reset-requests: 99999999h', { 'x-ratelimit-reset-requests': '99999999h' }],
  ])('%s: the key cools 24 h, with no TimeoutOverflowWarning and no busy loop', async (_name, headers) => {
    const s = await server(tooMany(headers));
    const { pool } = await openPool({ key_list: [{ api_key: 'sk-test-absurd-0001', base_url: s.url }] }, {});
    const controller = new AbortController();
    const waiting = ask(pool, controller.signal).catch((error: unknown) => error);
    await until(() => pool.status().keys[0]?.state === 'cooling', 10_000, 'the key to cool');
    const armed = pool.timersArmed;
    await idle(300);
    // A timer past 2^31-1 ms fires at once and is armed again: thousands of times in 300 ms.
    expect(pool.timersArmed - armed).toBeLessThanOrEqual(2);
    expect(overflows).toEqual([]);
    expect(s.requests()).toBe(1);
    const until24h = Date.parse(pool.status().keys[0]!.coolingUntil!) - Date.now();
    expect(until24h).toBeGreaterThan(DAY - 60_000);
    expect(until24h).toBeLessThanOrEqual(DAY);
    controller.abort();
    await waiting;
  });

  it('with a wait timeout, such a wait is a stop right away (NO_USABLE_KEY), not a 10-minute sit', async () => {
    const s = await server(tooMany({ 'retry-after': '1000000000' }));
    const { pool } = await openPool(
      { key_list: [{ api_key: 'sk-test-absurd-0002', base_url: s.url }] },
      { waitTimeoutMs: 600_000 },
    );
    const started = Date.now();
    const error = await ask(pool).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoUsableKeyError);
    expect(error).toMatchObject({
      code: 'NO_USABLE_KEY',
      message: expect.stringMatching(/wait timeout of 600 s: the soonest key is usable at \d{4}-/),
    });
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(overflows).toEqual([]);
  }, 60_000);

  it('a wait timeout past what a timer takes (1e11 ms) arms no overflowing timer and does not spin', async () => {
    const sim = cleanup(await startSimulator({ keys: [{ key: 'sk-test-spent-0003', quota: 0 }] }));
    const { pool } = await openPool(
      { key_list: [{ api_key: 'sk-test-spent-0003', base_url: sim.url }] },
      { waitTimeoutMs: 1e11 },
    );
    const controller = new AbortController();
    const waiting = ask(pool, controller.signal).catch((error: unknown) => error);
    await until(() => pool.blocked, 10_000, 'the pool to block');
    const armed = pool.timersArmed;
    await idle(300);
    expect(pool.timersArmed - armed).toBeLessThanOrEqual(2);
    expect(overflows).toEqual([]);
    controller.abort();
    await waiting;
  });
});

describe('a pool whose only key cools for long is blocked', () => {
  it('24 h from an HTTP-date retry-after: one warning naming until when and the config, a notification, "blocked", and NO_USABLE_KEY within the 2 s wait timeout', async () => {
    const date = new Date(Date.now() + DAY).toUTCString();
    const s = await server(tooMany({ 'retry-after': date }));
    const hook = cleanup(await receiver());
    const dir = await tempDir();
    const path = join(dir, 'config.json');
    await writeFile(
      path,
      JSON.stringify({
        key_list: [{ api_key: 'sk-test-cooling-0004', base_url: s.url }],
        notify: { lark: hook.url },
      }),
    );
    const { pool, logger } = await openPool(path, { waitTimeoutMs: 2000, notify: true });
    const events: string[] = [];
    pool.on('blocked', ({ message }) => events.push(message));
    const started = Date.now();
    const error = await ask(pool).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(error).toBeInstanceOf(NoUsableKeyError);
    expect(error).toMatchObject({ code: 'NO_USABLE_KEY' });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatch(
      new RegExp(
        `^no usable key until ${new Date(Date.parse(date)).toISOString().slice(0, 13)}.* \\(1 cooling\\): `,
      ),
    );
    expect(events[0]).toContain(`edit ${path} to add or fix a key`);
    const warnings = logger.lines.filter((line) => line.startsWith('warn: no usable key'));
    expect(warnings).toEqual([`warn: ${events[0]}`]);
    await until(() => hook.bodies.length >= 1, 10_000, 'the blocked notification');
    expect(JSON.stringify(hook.bodies[0]?.body)).toContain('no usable key until');
    expect(s.requests()).toBe(1);
  }, 30_000);

  it('cooling past 30 s with no wait timeout: blocked and waiting; a key added to the config resumes it', async () => {
    const s = await server((req, res) => {
      if (req.headers.authorization === 'Bearer sk-test-cooling-0005')
        tooMany({ 'retry-after': '45' })(req, res);
      else ok(res);
    });
    const dir = await tempDir();
    const path = join(dir, 'config.json');
    const key = (api_key: string) => ({ api_key, base_url: s.url });
    await writeFile(path, JSON.stringify({ key_list: [key('sk-test-cooling-0005')] }));
    const { pool } = await openPool(path, {});
    const blocked = new Promise<string>((resolve) => pool.once('blocked', ({ message }) => resolve(message)));
    const resumed = new Promise((resolve) => pool.once('resumed', resolve));
    const answer = ask(pool);
    expect(await blocked).toMatch(/^no usable key until .* \(1 cooling\): waiting; edit /);
    await writeFile(
      path,
      JSON.stringify({ key_list: [key('sk-test-cooling-0005'), key('sk-test-fresh-0006')] }),
    );
    expect((await answer).choices[0]?.message.content).toBe('hi');
    await resumed;
  });

  it.each([
    ['1.5 s, no wait timeout', '1.5', {}],
    ['0.5 s, a wait timeout of 0', '0.5', { waitTimeoutMs: 0 }],
  ])('a short retry-after (%s) is waited out quietly: not blocked', async (_name, seconds, options) => {
    const s = await server((req, res, n) =>
      n === 1 ? tooMany({ 'retry-after': seconds })(req, res) : ok(res),
    );
    const { pool, logger } = await openPool(
      { key_list: [{ api_key: 'sk-test-short-0007', base_url: s.url }] },
      options,
    );
    let blocked = 0;
    pool.on('blocked', () => blocked++);
    expect((await ask(pool)).choices[0]?.message.content).toBe('hi');
    expect(blocked).toBe(0);
    expect(logger.text()).not.toContain('no usable key');
    expect(s.requests()).toBe(2);
  });
});
