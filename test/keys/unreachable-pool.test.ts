/**
 * A key whose endpoint cannot be reached (connection refused, a base_url without /v1 answering
 * 404 "Invalid URL", …) is that key's problem: after three such attempts in a row the pool takes
 * it out with one line naming it (redacted) and its base URL, the requests move to other keys, and
 * a pool with no other key stops like a spent one. A save of the config gives it a fresh start.
 */
import { utimes, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NoUsableKeyError } from '../../src/errors.js';
import { createClient } from '../../src/keys/client.js';
import { parseConfig } from '../../src/keys/config.js';
import { KeyPool } from '../../src/keys/key-pool.js';
import type { LeaseResult } from '../../src/keys/types.js';
import { startSimulator } from '../../src/sim/index.js';
import { collectingLogger, until, useCleanup, useTempDir } from '../helpers.js';

const cleanup = useCleanup();
const tempDir = useTempDir();
const FAST = { retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 } };

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function openPool(
  config: Parameters<typeof KeyPool.open>[0],
  options: Parameters<typeof KeyPool.open>[1] = {},
) {
  const logger = collectingLogger();
  const pool = cleanup(await KeyPool.open(config, { logger, notify: false, env: {}, ...options }));
  return { pool, logger };
}

const REFUSED: LeaseResult = { outcome: 'retryable', unreachable: 'ECONNREFUSED' };

/** One attempt on the pool's next key, ended with `result` (or `result(label)`); returns the key used. */
async function attempt(pool: KeyPool, result: LeaseResult | ((label: string) => LeaseResult)) {
  const lease = await pool.acquire({ tokens: 1, workerId: 0 });
  pool.release(lease, typeof result === 'function' ? result(lease.label) : result);
  return lease.label;
}

const ask = (pool: KeyPool, text = 'hi') =>
  createClient(pool, FAST).chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: text }],
  });

describe('the pool counts unreachable attempts per key', () => {
  it('three in a row take the key out: invalid, the reason in status(), one warning naming key and base URL', async () => {
    const dir = await tempDir();
    const path = join(dir, 'config.json');
    const base = 'http://127.0.0.1:9/v1';
    await writeFile(
      path,
      JSON.stringify({ key_list: [{ api_key: 'sk-test-unreach-abcd', base_url: base }] }),
    );
    const { pool, logger } = await openPool(path, { waitTimeoutMs: 0 });
    const states: string[] = [];
    pool.on('key-state', (change) => states.push(`${change.from}->${change.to}`));
    await attempt(pool, REFUSED);
    await attempt(pool, REFUSED);
    expect(pool.status().keys[0]?.state).toBe('ready');
    await attempt(pool, REFUSED);
    expect(pool.status().keys[0]).toMatchObject({
      state: 'invalid',
      reason: `unreachable at ${base} (ECONNREFUSED, 3 attempts in a row)`,
    });
    expect(states).toEqual(['ready->invalid']);
    expect(logger.lines.filter((line) => line.includes('sk-…abcd'))).toEqual([
      `warn: key sk-…abcd is unreachable at ${base} (ECONNREFUSED, 3 attempts in a row); it will not be used until ${path} is saved again`,
    ]);
    // No key left: the pool stops like a spent one (blocked, then NO_USABLE_KEY at the wait timeout).
    const error = await pool.acquire({ tokens: 1, workerId: 0 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoUsableKeyError);
    expect(error).toMatchObject({ code: 'NO_USABLE_KEY', message: expect.stringContaining('1 unreachable') });
    expect(logger.text()).toContain(
      'warn: no usable key (1 unreachable): stopping (the wait timeout is 0 s); edit ',
    );
  });

  it('any real answer in between starts the count again', async () => {
    const { pool } = await openPool({
      key_list: [{ api_key: 'sk-test-flaky-efgh', base_url: 'http://127.0.0.1:9/v1' }],
    });
    await attempt(pool, REFUSED);
    await attempt(pool, REFUSED);
    await attempt(pool, { outcome: 'retryable', status: 503 });
    await attempt(pool, REFUSED);
    await attempt(pool, REFUSED);
    await attempt(pool, { outcome: 'ok', status: 200 });
    await attempt(pool, REFUSED);
    await attempt(pool, { outcome: 'cancelled' });
    await attempt(pool, REFUSED);
    expect(pool.status().keys[0]?.state).toBe('ready');
  });

  it('the other keys serve on; a save of the config (even unchanged) gives the key a fresh start', async () => {
    const dir = await tempDir();
    const path = join(dir, 'config.json');
    const config = JSON.stringify({
      key_list: [
        { api_key: 'sk-test-unreach-1111', base_url: 'http://127.0.0.1:9/v1' },
        { api_key: 'sk-test-good-2222', base_url: 'http://127.0.0.1:10/v1' },
      ],
    });
    await writeFile(path, config);
    const { pool, logger } = await openPool(path);
    const answer = (label: string): LeaseResult =>
      label === 'sk-…1111' ? REFUSED : { outcome: 'ok', status: 200 };
    for (let i = 0; i < 20 && pool.status().keys[0]?.state === 'ready'; i++) await attempt(pool, answer);
    expect(pool.status().keys.map((key) => key.state)).toEqual(['invalid', 'ready']);
    expect(pool.status().keys[0]?.requests).toBe(3);
    for (let i = 0; i < 5; i++) expect(await attempt(pool, answer)).toBe('sk-…2222');

    // The server was fixed; the config is saved as it was.
    await writeFile(path, config);
    const later = new Date(Date.now() + 5000);
    await utimes(path, later, later);
    await until(() => pool.status().keys[0]?.state === 'ready', 10_000, 'the key to get a fresh start');
    expect(pool.status().keys[0]?.reason).toBeUndefined();
    expect(logger.text()).toContain(`${path}: saved again (retrying unreachable sk-…1111)`);
  });

  it('pool.reload() with the key unchanged gives an unreachable key a fresh start; a 401-invalid key stays out', async () => {
    const config = {
      key_list: [
        { api_key: 'sk-test-unreach-3333', base_url: 'http://127.0.0.1:9/v1' },
        { api_key: 'sk-test-revoked-4444', base_url: 'http://127.0.0.1:9/v1' },
      ],
    };
    const { pool, logger } = await openPool(config);
    const answer = (label: string): LeaseResult =>
      label === 'sk-…4444' ? { outcome: 'invalid', status: 401, code: 'invalid_api_key' } : REFUSED;
    for (let i = 0; i < 20 && pool.status().keys.some((key) => key.state === 'ready'); i++) {
      await attempt(pool, answer);
    }
    expect(pool.status().keys).toMatchObject([
      { state: 'invalid', reason: expect.stringContaining('unreachable') },
      { state: 'invalid', reason: 'rejected (401 invalid_api_key)' },
    ]);
    pool.reload(parseConfig(config, 'config'));
    expect(pool.status().keys.map((key) => key.state)).toEqual(['ready', 'invalid']);
    expect(logger.text()).toContain('reloaded (retrying unreachable sk-…3333)');
  });
});

describe('unreachable endpoints over real HTTP', () => {
  it('a closed port: the key is taken out after 3 attempts, every request is answered by the other key', async () => {
    const sim = cleanup(await startSimulator({ keys: [{ key: 'sk-test-good-5555' }] }));
    const port = await closedPort();
    const base = `http://127.0.0.1:${port}/v1`;
    const { pool, logger } = await openPool({
      key_list: [
        { api_key: 'sk-test-closed-6666', base_url: base },
        { api_key: 'sk-test-good-5555', base_url: sim.url },
      ],
    });
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => ask(pool, `q${i}`)));
    expect(answers.map((a) => a.choices[0]?.message.content)).toEqual(
      Array.from({ length: 10 }, (_, i) => `echo: q${i}`),
    );
    for (let i = 0; i < 5; i++) await ask(pool, `more ${i}`);
    const closed = pool.status().keys[0];
    expect(closed).toMatchObject({ state: 'invalid', reason: expect.stringContaining(base) });
    expect(closed?.reason).toContain('ECONNREFUSED');
    // Concurrent requests may all have been on their way to it; none after it was taken out.
    expect(closed?.requests).toBeLessThanOrEqual(10);
    const lines = logger.lines.filter((line) => line.startsWith('warn: key sk-…6666 is unreachable'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(base);
    expect(lines[0]).toContain('ECONNREFUSED');
    expect(sim.stats().byKey['sk-…5555']?.successes).toBe(15);
  });

  it('a base_url without /v1 (404 "Invalid URL" on every route): the only key is taken out and the request stops with NO_USABLE_KEY, not a final 404', async () => {
    const sim = cleanup(await startSimulator({ keys: [{ key: 'sk-test-novone-7777' }] }));
    const base = sim.url.replace(/\/v1$/, '');
    const { pool, logger } = await openPool(
      { key_list: [{ api_key: 'sk-test-novone-7777', base_url: base }] },
      { waitTimeoutMs: 0 },
    );
    const error = await ask(pool).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoUsableKeyError);
    expect(error).toMatchObject({ code: 'NO_USABLE_KEY' });
    expect(pool.status().keys[0]).toMatchObject({ state: 'invalid', reason: expect.stringContaining('404') });
    const lines = logger.lines.filter((line) => line.startsWith('warn: key sk-…7777 is unreachable'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(base);
    expect(lines[0]).toContain('Invalid URL');
    expect(sim.stats().requests).toBe(3);
  });

  it('a closed port as the only key, no wait timeout: blocked (said once) instead of burning attempts', async () => {
    const port = await closedPort();
    const { pool } = await openPool({
      key_list: [{ api_key: 'sk-test-closed-8888', base_url: `http://127.0.0.1:${port}/v1` }],
    });
    const blocked = new Promise<string>((resolve) => pool.once('blocked', ({ message }) => resolve(message)));
    const waiting = ask(pool).catch((e: unknown) => e);
    expect(await blocked).toMatch(/^no usable key \(1 unreachable\): waiting; /);
    expect(pool.status().keys[0]?.requests).toBe(3);
    await pool.close();
    expect(await waiting).toMatchObject({ code: 'ABORTED' });
  });
});
