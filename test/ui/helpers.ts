/**
 * For the dashboard tests: Debian's chromium driven by playwright-core (no browser download), a
 * gate in front of the simulator that holds chosen requests until released (so a page can be seen
 * mid-run without timing), and raw HTTP requests with any `Host` header.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { KeyPool } from '../../src/keys/key-pool.js';
import { silentLogger } from '../../src/logger.js';
import type { PromptOptions } from '../../src/prompts/options.js';
import { runPrompts } from '../../src/prompts/run-prompts.js';
import { writeJsonl } from '../cli/helpers.js';

/** How long a page may take to reach a state (generous: a busy machine is slow, not wrong). */
export const WAIT = { timeout: 20_000 };

export const CHROMIUM = '/usr/bin/chromium';

/** Flags that keep chromium from reaching anything but the page under test. */
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface Browser {
  page: Page;
  context: BrowserContext;
  close(): Promise<void>;
}

/** A headless chromium with a fresh profile, and one page. */
export async function openBrowser(): Promise<Browser> {
  const profile = await mkdtemp(join(tmpdir(), 'keybatch-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1400, height: 1000 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    page,
    context,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

export { type Gate, startGate } from '../gate.js';

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A GET to 127.0.0.1:`port` with exactly these headers (`host` included). */
export function rawGet(port: number, path: string, headers: Record<string, string>): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The first `count` events of the dashboard's event stream, as text. */
export async function readEvents(url: string, count: number): Promise<string> {
  const controller = new AbortController();
  const response = await fetch(url, { signal: controller.signal });
  if (!response.body) throw new Error('the event stream has no body');
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of response.body) {
    text += decoder.decode(chunk as Uint8Array, { stream: true });
    if (text.split('\n\n').filter((part) => part.includes('data: ')).length >= count) break;
  }
  controller.abort();
  return text;
}

/** The little of the DOM the page predicates use (this file is type-checked without the DOM lib). */
interface Dom {
  document: {
    querySelector(selector: string): { textContent: string | null; dataset: Record<string, string> } | null;
    querySelectorAll(selector: string): { length: number };
  };
}
// Each predicate runs in the browser: a function of its argument alone (the page's CSP forbids eval).
export const waitDone = (page: Page, done: number, state?: string) =>
  page.waitForFunction(
    ([n, s]) => {
      const { document } = globalThis as unknown as Dom;
      const shown = document.querySelector('#done')?.dataset['value'] === String(n);
      return shown && (s === '' || document.querySelector('#state')?.textContent === s);
    },
    [done, state ?? ''] as const,
    WAIT,
  );
export const waitText = (page: Page, selector: string, text: string) =>
  page.waitForFunction(
    ([sel, t]) => ((globalThis as unknown as Dom).document.querySelector(sel)?.textContent ?? '').includes(t),
    [selector, text] as const,
    WAIT,
  );
export const waitRows = (page: Page, count: number) =>
  page.waitForFunction(
    (n) => (globalThis as unknown as Dom).document.querySelectorAll('.result-row').length >= n,
    count,
    WAIT,
  );

/**
 * Runs `count` prompts (ids `<id>-<i>`, texts `<prompt> <i>`) to the end in `dir` with runPrompts on one key of the
 * simulator at `url`; returns the output's path.
 */
export async function finishedPromptRun(run: {
  dir: string;
  url: string;
  key: string;
  count: number;
  id: string;
  prompt: string;
  options?: Partial<PromptOptions>;
}): Promise<string> {
  const input = join(run.dir, 'in.jsonl');
  const output = join(run.dir, 'out.jsonl');
  await writeJsonl(
    input,
    Array.from({ length: run.count }, (_, i) => ({ id: `${run.id}-${i}`, prompt: `${run.prompt} ${i}` })),
  );
  const pool = await KeyPool.open(
    { key_list: [{ api_key: run.key, base_url: run.url }] },
    { logger: silentLogger, notify: false, watch: false },
  );
  try {
    await runPrompts(pool, input, {
      model: 'gpt-4o-mini',
      output,
      handleSignals: false,
      logger: silentLogger,
      ...run.options,
    });
  } finally {
    await pool.close();
  }
  return output;
}
