/**
 * The dashboard of a finished run, read from its run directory (what `keybatch ui <output>` serves):
 * its summary has the total, an elapsed time that is the run's own (not the dashboard's), and a
 * browser on it reaches network idle: the event stream ends with the run instead of staying open.
 */
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { RunDirSource } from '../../src/ui/run-dir.js';
import { startDashboard } from '../../src/ui/server.js';
import { SummaryTracker } from '../../src/ui/summary.js';
import { tempDirs } from '../cli/helpers.js';
import { type Browser, finishedPromptRun, openBrowser } from './helpers.js';

const KEY = 'sk-test-ui-finished-key-cccc-4001';
/** The chart's screenshot goes to the OS temp directory when KEYBATCH_SCREENSHOT=1, else the test's own. */
const SCREENSHOT = process.env['KEYBATCH_SCREENSHOT'] === '1';
const tempDir = tempDirs();
let sim: Simulator;
let browser: Browser;
beforeAll(async () => {
  sim = await startSimulator({ keys: [{ key: KEY }], latencyMs: 300 });
  browser = await openBrowser();
});
afterAll(async () => {
  await browser?.close();
  await sim?.close();
});

describe('the dashboard of a finished run', () => {
  it('always has `total` in its summary, null until the input is counted', () => {
    const tracker = new SummaryTracker({ mode: 'live', output: 'o', checkpoint: 'c', configPath: undefined });
    expect(JSON.parse(JSON.stringify(tracker.summary))).toHaveProperty('total', null);
  });

  it('shows the run’s total and its own elapsed time, and a browser on it reaches network idle', async () => {
    const started = Date.now();
    const output = await finishedPromptRun({
      dir: await tempDir(),
      url: sim.url,
      key: KEY,
      count: 6,
      id: 'done',
      prompt: 'finished prompt',
    });
    const runMs = Date.now() - started;
    // The dashboard opens well after the run ended: its elapsed time must not count that wait.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const source = await RunDirSource.open(output, { intervalMs: 200 });
    const dashboard = await startDashboard(source);
    try {
      const summaryUrl = new URL(`/api/summary${new URL(dashboard.url).search}`, dashboard.url);
      const summary = (await (await fetch(summaryUrl)).json()) as Record<string, unknown>;
      expect(summary).toMatchObject({ state: 'finished', total: 6, done: 6 });
      // One lane, one at a time: 6 answers × 300 ms. The dashboard opened 1.5 s after the run
      // ended, so an elapsed time counted from its opening would be near 0.
      expect(summary['elapsedMs']).toBeGreaterThanOrEqual(Math.min(1200, runMs / 2));
      expect(summary['elapsedMs']).toBeLessThanOrEqual(runMs + 1000);
      const { page } = browser;
      const open = new Set<string>();
      page.on('request', (request) => open.add(new URL(request.url()).pathname));
      const settle = (request: { url(): string }) => open.delete(new URL(request.url()).pathname);
      page.on('requestfinished', settle);
      page.on('requestfailed', settle);
      await page.goto(dashboard.url);
      await page.waitForLoadState('networkidle', { timeout: 20_000 });
      expect(await page.textContent('#state')).toBe('finished');
      // Idle means idle: every request the page made ends (none stays open, none comes back).
      const deadline = Date.now() + 15_000;
      while (open.size > 0 && Date.now() < deadline) await page.waitForTimeout(100);
      expect([...open]).toEqual([]);
      await page.waitForTimeout(2500);
      expect([...open]).toEqual([]);
    } finally {
      await dashboard.close();
      source.close();
    }
  }, 90_000);

  it('draws the run’s own chart: the points it wrote while running, not a flat line from when the dashboard opened', async () => {
    // One request at a time (one lane, one in flight: `concurrency` is per lane, and there are
    // four lanes by default), 300 ms each: the run lasts 2.4 s or more, ticks every 200 ms.
    // Before, four went at once and the run could end in 0.7 s, under two lines a second apart.
    const dir = await tempDir();
    const output = await finishedPromptRun({
      dir,
      url: sim.url,
      key: KEY,
      count: 8,
      id: 'chart',
      prompt: 'chart prompt',
      options: { workers: 1, concurrency: 1, progressIntervalMs: 200 },
    });
    const ended = Date.now() / 1000;
    const source = await RunDirSource.open(output, { intervalMs: 100 });
    try {
      const { history } = source.tracker.summary;
      expect(history.t.length).toBeGreaterThanOrEqual(1);
      expect(history.ok.some((rate) => rate > 0)).toBe(true);
      for (const t of history.t) expect(t).toBeLessThanOrEqual(ended);
      // The dashboard goes on reading the directory; a finished run's chart stays its own.
      const points = history.t.length;
      await once(source.tracker, 'change');
      await once(source.tracker, 'change');
      expect(source.tracker.summary.history.t).toHaveLength(points);
      // The page draws it: a screenshot to look at (KEYBATCH_SCREENSHOT=1: in the temp directory).
      const dashboard = await startDashboard(source);
      try {
        const { page } = browser;
        await page.goto(dashboard.url);
        await page.waitForSelector('#chart canvas', { timeout: 20_000 });
        expect(await page.textContent('#state')).toBe('finished');
        const shot = join(SCREENSHOT ? tmpdir() : dir, 'keybatch-finished-chart.png');
        await page.screenshot({ path: shot, fullPage: true });
        expect(existsSync(shot)).toBe(true);
      } finally {
        await dashboard.close();
      }
    } finally {
      source.close();
    }
  }, 90_000);
});
