/**
 * The dashboard's commands in a real browser: `keybatch ui <output>` on a run directory that another
 * process (a `keybatch run` child) is writing, read-only, its progress rising as the run goes; and
 * `keybatch run --ui`, the live page of the run itself.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redactKey } from '../../src/keys/redact.js';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { readJsonl, snapshot, startCli, tempDirs, writeConfig, writeJsonl } from '../cli/helpers.js';
import { until } from '../helpers.js';
import { type Browser, openBrowser, startGate, WAIT, waitDone, waitRows, waitText } from './helpers.js';

const KEYS = Object.freeze({
  good1: 'sk-test-ui-cmd-good-key-aaaa-1001',
  unknown: 'sk-test-ui-cmd-unknown-key-bbbb-3001',
});
const MODEL = 'gpt-4o-mini';
/** A child `keybatch` starts through tsx: slow on a loaded machine, so a generous deadline. */
const STARTUP_MS = 60_000;
/** Each test starts one or two children and a page. */
const TEST_MS = 180_000;

const tempDir = tempDirs();
let sim: Simulator;
let browser: Browser;
beforeAll(async () => {
  sim = await startSimulator({ keys: [{ key: KEYS.good1 }] });
  browser = await openBrowser();
});
afterAll(async () => {
  await browser?.close();
  await sim?.close();
});

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

describe.sequential('keybatch ui', () => {
  // The run marks its checkpoint complete, then merges the output: the page must not be told
  // "finished" (its stream ends, its rows are loaded one last time) before the output is there.
  it(
    'shows the progress of a run another process is writing, read-only',
    async () => {
      const gate = await startGate(sim.url, 'gated');
      const records = [
        ...Array.from({ length: 6 }, (_, i) => ({ id: `ro-${i}`, prompt: `read-only prompt ${i}` })),
        ...Array.from({ length: 10 }, (_, i) => ({
          id: `ro-gated-${i}`,
          prompt: `gated read-only prompt ${i}`,
        })),
      ];
      const { dir, config, input, output } = await setup([KEYS.good1], gate.url, records);
      const run = startCli(
        ['run', input, '-o', output, '-c', config, '-m', MODEL, '--workers', '1', '--concurrency', '2'],
        { cwd: dir },
      );
      let ui: ReturnType<typeof startCli> | undefined;
      try {
        await until(
          () => existsSync(join(`${output}.keybatch`, 'manifest.json')),
          STARTUP_MS,
          'the run directory',
        );
        ui = startCli(['ui', output], { cwd: dir });
        const started = ui;
        await until(() => /dashboard at \S+\n/.test(started.stderr()), STARTUP_MS, 'the dashboard line');
        const url = /dashboard at (\S+)\n/.exec(started.stderr())![1]!;
        const { page } = browser;
        await page.goto(url);
        await waitDone(page, 6);
        expect(await page.textContent('#mode')).toBe('read-only');
        expect(await page.textContent('#state')).toBe('running');
        // The rows answered so far, read from the lane files the run is writing.
        await waitRows(page, 6);
        await waitText(page, '#rows-from', 'checkpoint');
        gate.release();
        const result = await run.done;
        expect(result.code).toBe(0);
        await waitDone(page, records.length, 'finished');
        await waitText(page, '#rows-from', 'output');
        // Read-only: while it reads the finished run again and again, nothing in it changes.
        const before = { dir: await snapshot(`${output}.keybatch`), output: await readFile(output, 'utf8') };
        const summaryAt = async () => {
          const answer = await fetch(new URL(`/api/summary${new URL(url).search}`, url));
          return ((await answer.json()) as { updatedAt: string }).updatedAt;
        };
        const first = await summaryAt();
        await until(async () => (await summaryAt()) !== first, 20_000, 'the dashboard to read the run again');
        expect(await snapshot(`${output}.keybatch`)).toEqual(before.dir);
        expect(await readFile(output, 'utf8')).toBe(before.output);
        started.proc.kill('SIGINT');
        const closed = await started.done;
        expect(closed.code).toBe(0);
        const lines = closed.stderr.trimEnd().split('\n');
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(
          /^keybatch: dashboard at http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{20,}$/,
        );
        expect((await readJsonl(output)).map((row) => row['id'])).toEqual(records.map((r) => r.id));
      } finally {
        gate.release();
        run.proc.kill('SIGKILL');
        ui?.proc.kill('SIGKILL');
        await gate.close();
      }
    },
    TEST_MS,
  );

  it(
    'keybatch run --ui serves the live page of the run, with its keys, and prints its one line',
    async () => {
      const gate = await startGate(sim.url, 'gated');
      const records = [
        ...Array.from({ length: 4 }, (_, i) => ({ id: `live-${i}`, prompt: `live prompt ${i}` })),
        ...Array.from({ length: 6 }, (_, i) => ({ id: `live-gated-${i}`, prompt: `gated live prompt ${i}` })),
      ];
      const { dir, config, input, output } = await setup([KEYS.unknown, KEYS.good1], gate.url, records);
      // One lane, two in flight: the records go out in order, so the four before the gate are answered.
      const run = startCli(
        [
          'run',
          input,
          '-o',
          output,
          '-c',
          config,
          '-m',
          MODEL,
          '--workers',
          '1',
          '--concurrency',
          '2',
          '--ui',
        ],
        { cwd: dir },
      );
      try {
        await until(() => /dashboard at \S+\n/.test(run.stderr()), STARTUP_MS, 'the dashboard line');
        const url = /dashboard at (\S+)\n/.exec(run.stderr())![1]!;
        const { page } = browser;
        await page.goto(url);
        await waitDone(page, 4);
        expect(await page.textContent('#mode')).toBe('live');
        expect(
          await page.getAttribute(`.key-row[data-key="${redactKey(KEYS.unknown)}"]`, 'data-state', WAIT),
        ).toBe('invalid');
        gate.release();
        const result = await run.done;
        expect(result.code).toBe(0);
        const lines = result.stderr.split('\n').filter((line) => line.includes('dashboard'));
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(
          /^keybatch: dashboard at http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{20,}$/,
        );
        // The page closed with the run.
        await expect(fetch(url)).rejects.toThrow();
      } finally {
        gate.release();
        run.proc.kill('SIGKILL');
        await gate.close();
      }
    },
    TEST_MS,
  );
});
