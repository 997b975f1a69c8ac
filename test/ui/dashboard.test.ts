/**
 * The dashboard in a real browser (Debian's chromium, headless): a live run on the simulator, a
 * blocked run, the token and Host checks, and a scan of everything served for full keys.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyPool } from '../../src/keys/key-pool.js';
import { redactKey } from '../../src/keys/redact.js';
import { silentLogger } from '../../src/logger.js';
import { type RunSummary, runPrompts } from '../../src/prompts/run-prompts.js';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { formatUsd } from '../../src/tokens/cost.js';
import { LiveSource } from '../../src/ui/live.js';
import { type Dashboard, startDashboard } from '../../src/ui/server.js';
import { readJsonl, tempDirs, writeConfig, writeJsonl } from '../cli/helpers.js';
import { until } from '../helpers.js';
import {
  type Browser,
  openBrowser,
  rawGet,
  readEvents,
  startGate,
  WAIT,
  waitDone,
  waitRows,
  waitText,
} from './helpers.js';

const KEYS = Object.freeze({
  good1: 'sk-test-ui-good-key-aaaa-1001',
  good2: 'sk-test-ui-good-key-bbbb-1002',
  spent: 'sk-test-ui-spent-key-cccc-2001',
  invalid: 'sk-test-ui-unknown-key-dddd-3001',
  invalid2: 'sk-test-ui-unknown-key-eeee-3002',
});
const ALL_KEYS = Object.values(KEYS);
const MODEL = 'gpt-4o-mini';
/** A browser and a run per test: generous on a loaded machine. */
const TEST_MS = 120_000;
/** Where the screenshot goes: docs/dashboard.png when KEYBATCH_SCREENSHOT=1, else a temp dir. */
const SCREENSHOT = process.env['KEYBATCH_SCREENSHOT'] === '1';

const tempDir = tempDirs();
let sim: Simulator;
let browser: Browser;
beforeAll(async () => {
  sim = await startSimulator({
    keys: [{ key: KEYS.good1 }, { key: KEYS.good2 }, { key: KEYS.spent, quota: 0 }],
    // For the screenshot, a run long enough to draw a chart.
    ...(SCREENSHOT ? { latencyMs: { min: 100, max: 400 } } : {}),
  });
  browser = await openBrowser();
});
afterAll(async () => {
  await browser?.close();
  await sim?.close();
});

function expectNoFullKey(text: string, where: string): void {
  for (const key of ALL_KEYS)
    expect(text, `${where} holds the full key …${key.slice(-4)}`).not.toContain(key);
}

async function setup(keys: string[], baseURL: string, records: unknown[]) {
  const dir = await tempDir();
  const config = join(dir, 'config.json');
  const input = join(dir, 'in.jsonl');
  const output = join(dir, 'out.jsonl');
  await writeConfig(
    config,
    keys.map((apiKey) => ({ api_key: apiKey, base_url: baseURL })),
  );
  await writeJsonl(input, records);
  return { dir, config, input, output };
}

const tokenOf = (dashboard: Dashboard) => new URL(dashboard.url).searchParams.get('token')!;
describe.sequential('the dashboard of a live run', () => {
  it(
    'shows the done count rising to the run summary, the invalid and exhausted keys, and a row as a conversation',
    async () => {
      const gate = await startGate(sim.url, 'gated');
      const records = [
        ...Array.from({ length: 8 }, (_, i) => ({ id: `first-${i}`, prompt: `dashboard prompt ${i}` })),
        { id: 'refused', prompt: 'a prompt the API refuses [[sim:400]]' },
        ...Array.from({ length: SCREENSHOT ? 400 : 12 }, (_, i) => ({
          id: `second-${i}`,
          prompt: `gated dashboard prompt ${i}`,
        })),
      ];
      const { config, input, output } = await setup(
        [KEYS.invalid, KEYS.spent, KEYS.good1, KEYS.good2],
        gate.url,
        records,
      );
      const pool = await KeyPool.open(config, { logger: silentLogger, notify: false });
      const source = new LiveSource(pool, { output });
      const dashboard = await startDashboard(source);
      let run: Promise<RunSummary> | undefined;
      try {
        const { page } = browser;
        await page.goto(dashboard.url);
        await waitText(page, '#connection', 'live');
        run = runPrompts(pool, input, {
          output,
          model: MODEL,
          onProgress: source.onProgress,
          progressIntervalMs: 100,
          handleSignals: false,
          logger: silentLogger,
          workers: 2,
          concurrency: 4,
        });
        // The first 8 are answered, the rest held at the gate: the page shows 8 done, mid-run.
        await waitDone(page, 8);
        expect(await page.textContent('#state')).toBe('running');
        await until(() => gate.held() > 0, 20_000, 'requests held at the gate');
        gate.release();
        const summary = await run;
        await source.end('finished');
        expect([summary.done, summary.failed]).toEqual([records.length - 1, 1]);
        await waitDone(page, summary.done, 'finished');
        expect(Number(await page.getAttribute('#done', 'data-value'))).toBe(summary.done);
        expect(source.tracker.summary.done).toBe(summary.done);
        // The refused prompt is listed by its code.
        const [code] = Object.keys(summary.errors);
        expect(code).toBeDefined();
        await waitText(page, '#failures', code!);

        // The key table: the invalid key as invalid, the spent one as exhausted, both redacted.
        const state = (key: string) =>
          page.getAttribute(`.key-row[data-key="${redactKey(key)}"]`, 'data-state', { timeout: 20_000 });
        expect(await state(KEYS.invalid)).toBe('invalid');
        expect(await state(KEYS.spent)).toBe('exhausted');
        expect(await state(KEYS.good1)).toBe('ready');
        // What the run and each key spent, as the CLI shows it.
        expect(summary.cost.usd).toBeGreaterThan(0);
        await waitText(page, '#cost', formatUsd(summary.cost.usd));
        const good = pool.status().keys.find((key) => key.key === redactKey(KEYS.good1))!;
        expect(good.cost?.usd).toBeGreaterThan(0);
        const costCell = `.key-row[data-key="${redactKey(KEYS.good1)}"] td:nth-child(8)`;
        expect(await page.textContent(costCell)).toBe(formatUsd(good.cost!.usd));
        // Its domain's pacer: mode and pace (these keys send no rate-limit headers: nothing learned).
        const pacingCell = `.key-row[data-key="${redactKey(KEYS.good1)}"] td:nth-child(9)`;
        expect(await page.textContent(pacingCell)).toMatch(/^(headers|observed|slow-start) \d+\/min$/);

        // A row opens as a conversation with its prompt and its answer.
        const rows = await readJsonl(output);
        const third = rows[3]!;
        await waitRows(page, 4);
        await page.click('.result-row[data-i="3"]');
        await page.waitForSelector('#conversation:not([hidden])', WAIT);
        const conversation = (await page.textContent('#conversation-body')) ?? '';
        expect(conversation).toContain('dashboard prompt 3');
        expect(String(third['response'])).not.toBe('');
        expect(conversation).toContain(String(third['response']));
        expect(await page.textContent('#conversation .answer')).toContain(String(third['response']));

        const shot = SCREENSHOT
          ? new URL('../../docs/dashboard.png', import.meta.url).pathname
          : join(await tempDir(), 'dashboard.png');
        await page.screenshot({ path: shot, fullPage: true });
        expect(existsSync(shot)).toBe(true);
        expectNoFullKey(await page.content(), 'the page');
      } finally {
        gate.release();
        await run?.catch(() => undefined);
        await dashboard.close();
        await pool.close();
        await gate.close();
      }
    },
    TEST_MS,
  );

  it(
    'shows the BLOCKED banner naming the config file while no key is usable',
    async () => {
      const { config, input, output } = await setup([KEYS.invalid, KEYS.invalid2], sim.url, [
        { id: 'blocked-0', prompt: 'a prompt no key can send' },
      ]);
      const pool = await KeyPool.open(config, { logger: silentLogger, notify: false });
      const source = new LiveSource(pool, { output });
      const dashboard = await startDashboard(source);
      const stop = new AbortController();
      let stopped: Promise<unknown> | undefined;
      try {
        const { page } = browser;
        await page.goto(dashboard.url);
        const run = runPrompts(pool, input, {
          output,
          model: MODEL,
          onProgress: source.onProgress,
          progressIntervalMs: 100,
          handleSignals: false,
          logger: silentLogger,
          signal: stop.signal,
        });
        stopped = run.catch((error: unknown) => error);
        await page.waitForSelector('#blocked:not([hidden])', WAIT);
        expect(await page.textContent('#blocked')).toContain('BLOCKED');
        expect(await page.textContent('#blocked-config')).toBe(config);
        expect(
          await page.getAttribute(`.key-row[data-key="${redactKey(KEYS.invalid2)}"]`, 'data-state'),
        ).toBe('invalid');
        stop.abort();
        expect(await stopped).toMatchObject({ code: 'ABORTED' });
      } finally {
        stop.abort();
        await stopped;
        await dashboard.close();
        await pool.close();
      }
    },
    TEST_MS,
  );

  it(
    'refuses requests without the token or with a foreign Host, and serves no full key anywhere',
    async () => {
      const records = [
        ...Array.from({ length: 6 }, (_, i) => ({ id: `scan-${i}`, prompt: `scan prompt ${i}` })),
        // A prompt holding a full key, and one refused with a 400: both end up in the rows served.
        { id: 'scan-key', prompt: `please ignore ${KEYS.good2} in this text` },
        { id: 'scan-400', prompt: 'a bad one [[sim:400]]' },
      ];
      const { config, input, output } = await setup(
        [KEYS.invalid, KEYS.spent, KEYS.good1, KEYS.good2],
        sim.url,
        records,
      );
      const pool = await KeyPool.open(config, { logger: silentLogger, notify: false });
      const source = new LiveSource(pool, { output });
      const dashboard = await startDashboard(source);
      let run: Promise<RunSummary> | undefined;
      try {
        run = runPrompts(pool, input, {
          output,
          model: MODEL,
          onProgress: source.onProgress,
          progressIntervalMs: 100,
          handleSignals: false,
          logger: silentLogger,
        });
        const { port } = dashboard;
        const token = tokenOf(dashboard);
        const host = { host: `127.0.0.1:${port}` };
        expect((await rawGet(port, '/api/summary', host)).status).toBe(403);
        expect((await rawGet(port, '/', host)).status).toBe(403);
        expect((await rawGet(port, '/app.js', host)).status).toBe(403);
        expect((await rawGet(port, '/api/summary?token=wrong', host)).status).toBe(403);
        expect((await rawGet(port, '/api/events', host)).status).toBe(403);
        expect(
          (await rawGet(port, `/api/summary?token=${token}`, { host: `evil.example:${port}` })).status,
        ).toBe(403);
        expect((await rawGet(port, `/?token=${token}`, { host: `127.0.0.1.nip.io:${port}` })).status).toBe(
          403,
        );
        expect((await rawGet(port, `/api/summary?token=${token}`, { host: '127.0.0.1' })).status).toBe(403);
        expect((await rawGet(port, `/api/summary?token=${token}`, host)).status).toBe(200);
        expect(
          (await rawGet(port, `/api/summary?token=${token}`, { host: `localhost:${port}` })).status,
        ).toBe(200);
        // The page sets a cookie its own requests carry instead of the query.
        const home = await rawGet(port, `/?token=${token}`, host);
        expect(home.status).toBe(200);
        const cookie = String(home.headers['set-cookie']).split(';')[0]!;
        expect((await rawGet(port, '/app.js', { ...host, cookie })).status).toBe(200);
        expect((await rawGet(port, '/app.js', { ...host, cookie: `keybatch_${port}=nope` })).status).toBe(
          403,
        );

        await run;
        await source.end('finished');
        const served: Array<[string, string]> = [];
        for (const path of ['/', '/app.js', '/app.css', '/api/summary', '/api/rows?limit=200']) {
          const sep = path.includes('?') ? '&' : '?';
          const answer = await rawGet(port, `${path}${sep}token=${token}`, host);
          expect(answer.status, path).toBe(200);
          served.push([path, answer.body]);
        }
        for (const filter of ['failed', 'answered']) {
          served.push([filter, (await rawGet(port, `/api/rows?token=${token}&filter=${filter}`, host)).body]);
        }
        served.push(['search', (await rawGet(port, `/api/rows?token=${token}&q=ignore`, host)).body]);
        served.push(['events', await readEvents(`http://127.0.0.1:${port}/api/events?token=${token}`, 3)]);
        for (const [where, text] of served) expectNoFullKey(text, where);
        // The rows are there (the scan is not of empty answers): all, with the key shown redacted.
        const rows = JSON.parse(served[4]![1]) as {
          matched: number;
          rows: Array<{ row: { prompt: string } }>;
        };
        expect(rows.matched).toBe(records.length);
        expect(served.find(([where]) => where === 'search')![1]).toContain(redactKey(KEYS.good2));
        const failed = JSON.parse(served[5]![1]) as { matched: number; rows: Array<{ code: string }> };
        expect(failed.matched).toBe(1);
        expect(JSON.parse(served[3]![1])).toMatchObject({ failures: { [failed.rows[0]!.code]: 1 } });
        expect(served.at(-1)![1]).toContain('event: summary');

        const { page } = browser;
        await page.goto(dashboard.url);
        await waitRows(page, records.length);
        expectNoFullKey(await page.content(), 'the page');
      } finally {
        await run?.catch(() => undefined);
        await dashboard.close();
        await pool.close();
      }
    },
    TEST_MS,
  );
});
