import { readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { createClient } from '../../src/keys/client.js';
import { KeyPool } from '../../src/keys/key-pool.js';
import { runPipeline } from '../../src/pipeline/pipeline.js';
import { startSimulator } from '../../src/sim/index.js';
import { collectingLogger, until, useCleanup, useTempDir } from '../helpers.js';

const tempDir = useTempDir();
const cleanup = useCleanup();

const KEYS = {
  revoked: 'sk-test-PRIVATE-revoked-key-7a7a',
  spent: 'sk-test-PRIVATE-spent-key-8b8b',
  limited: 'sk-test-PRIVATE-limited-key-9c9c',
  mini: 'sk-test-PRIVATE-mini-only-key-0d0d',
  good: 'sk-test-PRIVATE-good-key-1e1e',
};
const FULL = Object.values(KEYS);

function expectNoFullKey(label: string, text: string): void {
  for (const key of FULL) {
    if (text.includes(key)) throw new Error(`${label} contains the full key ${key.slice(0, 12)}…`);
  }
}

function describeError(error: unknown): string {
  const e = error as Error & { cause?: unknown; error?: unknown };
  return [String(e), e.message, e.stack, JSON.stringify(e), JSON.stringify(e.error), String(e.cause)].join(
    '\n',
  );
}

describe('privacy: no full key anywhere', () => {
  it('errors, logs, status(), notification payloads, checkpoints and outputs hold only redacted keys', async () => {
    const bodies: string[] = [];
    const hook = createServer((req, res) => {
      let text = '';
      req.on('data', (d) => (text += d));
      req.on('end', () => {
        bodies.push(text);
        res.statusCode = 500;
        // A receiver that echoes what it got, with a key in it, into its error answer.
        res.end(`bad hook ${KEYS.good}`);
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    cleanup({ close: () => new Promise((resolve) => hook.close(() => resolve())) });
    const hookUrl = `http://127.0.0.1:${(hook.address() as { port: number }).port}`;

    const sim = await startSimulator({
      keys: [
        { key: KEYS.spent, quota: 0 },
        { key: KEYS.limited },
        { key: KEYS.mini, models: ['gpt-4o-mini'] },
        { key: KEYS.good },
      ],
    });
    cleanup(sim);
    const dir = await tempDir();
    const path = join(dir, 'config.json');
    const notify = {
      lark: `${hookUrl}/lark`,
      slack: `${hookUrl}/slack`,
      webhook: `${hookUrl}/hook`,
      base_wait_time: 0.05,
    };
    const keyList = Object.values(KEYS).map((api_key) => ({ api_key, base_url: sim.url }));
    await writeFile(path, JSON.stringify({ key_list: keyList, notify }));
    const logger = collectingLogger();
    const pool = await KeyPool.open(path, { logger, waitTimeoutMs: 400, env: {} });
    cleanup(pool);
    const client = createClient(pool, {
      retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
      timeoutMs: 200,
    });
    const errors: unknown[] = [];
    const attempt = async (text: string, model = 'gpt-4o-mini') => {
      try {
        await client.chat.completions.create({ model, messages: [{ role: 'user', content: text }] });
      } catch (error) {
        errors.push(error);
      }
    };

    sim.inject({ kind: 'status', status: 429, key: KEYS.limited, retryAfterMs: 50 });
    for (let i = 0; i < 4; i++) await attempt(`plain ${i}`); // 401, quota, rate limit on the way
    await attempt('needs the big model', 'gpt-4o'); // 404 model_not_found on the mini key
    await attempt('too long [[sim:400]]');
    await attempt('server down [[sim:500]]');
    await attempt('dropped [[sim:drop]]');
    await attempt('stuck [[sim:hang]]');
    const statusDuring = JSON.stringify(pool.status());
    expect(pool.status().keys.map((k) => k.state)).toEqual(expect.arrayContaining(['invalid', 'exhausted']));

    // A task that leaks a key into its own error: the checkpoint keeps it redacted.
    const output = join(dir, 'out.jsonl');
    await runPipeline(
      pool,
      [1, 2],
      (chunk: number[]) => {
        if (chunk[0] === 2) throw new Error(`task failed using ${KEYS.good}`);
        return chunk;
      },
      { output, chunkSize: 1, chunkRetries: 0, handleSignals: false, logger },
    );
    // A bad reload naming a key's field.
    await writeFile(path, JSON.stringify({ key_list: [{ api_key: KEYS.good, rpm: 'fast' }], notify }));
    await until(() => logger.text().includes('rpm'), 3000, 'the bad reload to be reported');

    // Only the spent key left: the bounded wait runs out with NO_USABLE_KEY, with notifications.
    await writeFile(path, JSON.stringify({ key_list: [{ api_key: KEYS.spent, base_url: sim.url }], notify }));
    await until(() => logger.text().includes('reloaded'), 3000, 'the reload');
    await attempt('nobody can answer');
    await until(() => bodies.length > 0, 3000, 'a notification');
    const noModel = await KeyPool.open(
      { key_list: [{ api_key: KEYS.mini, base_url: sim.url, models: ['gpt-4o-mini'] }] },
      { logger, notify: false },
    );
    cleanup(noModel);
    try {
      await createClient(noModel).chat.completions.create({
        model: 'gpt-4o',
        messages: [{ role: 'user', content: 'x' }],
      });
    } catch (error) {
      errors.push(error);
    }

    const kinds = errors.map(
      (e) => (e as { code?: string; constructor: { name: string } }).code ?? (e as Error).constructor.name,
    );
    expect(kinds).toEqual(
      expect.arrayContaining(['context_length_exceeded', 'NO_USABLE_KEY', 'MODEL_UNAVAILABLE']),
    );
    expect(errors.some((e) => e instanceof OpenAI.InternalServerError)).toBe(true);
    expect(errors.some((e) => e instanceof OpenAI.APIConnectionError)).toBe(true);

    for (const [i, error] of errors.entries()) expectNoFullKey(`error ${i}`, describeError(error));
    expectNoFullKey('logs', logger.text());
    expectNoFullKey('status()', statusDuring + JSON.stringify(pool.status()));
    expectNoFullKey('notifications', bodies.join('\n'));
    expectNoFullKey('simulator stats', JSON.stringify(sim.stats()));
    const runDir = `${output}.keybatch`;
    for (const file of await readdir(runDir))
      expectNoFullKey(file, await readFile(join(runDir, file), 'utf8'));
    expectNoFullKey('output', await readFile(output, 'utf8'));
    expect(await readFile(output, 'utf8')).toContain('task failed using sk-…1e1e');
    expect(logger.text()).toContain('sk-…7a7a');
  });
});
