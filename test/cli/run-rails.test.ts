/**
 * `keybatch run` rails: flags checked first (an unknown one named before a missing -o), bounds of
 * --workers/--concurrency, --timeout per attempt, --quiet keeps what the library says, a hanging
 * webhook never holds the exit, --overwrite, and the run directory lock — each a real child process.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_FILE } from '../../src/checkpoint/lock.js';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { until } from '../helpers.js';
import { mountTmpfs } from '../tmpfs.js';
import { cli, KEYS, startCli, tempDirs, writeConfig, writeJsonl } from './helpers.js';

const tempDir = tempDirs();
let sim: Simulator;
const servers: Server[] = [];
beforeAll(async () => {
  sim = await startSimulator({ keys: [{ key: KEYS.good }] });
});
afterAll(async () => {
  await sim.close();
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
});

/** An HTTP server that takes every request and never answers; it records when each connection closed. */
async function silentServer(): Promise<{
  url: string;
  requests: Array<{ at: number; closedAfter?: number }>;
}> {
  const requests: Array<{ at: number; closedAfter?: number }> = [];
  const server = createServer((req: IncomingMessage) => {
    const entry: { at: number; closedAfter?: number } = { at: Date.now() };
    requests.push(entry);
    req.socket.on('close', () => {
      entry.closedAfter = Date.now() - entry.at;
    });
    req.resume();
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

async function setup(
  keys: Array<Record<string, unknown>>,
  records: unknown[],
  notify?: Record<string, string>,
) {
  const dir = await tempDir();
  const config = join(dir, 'config.json');
  const input = join(dir, 'in.jsonl');
  const output = join(dir, 'out.jsonl');
  if (notify) await writeFile(config, JSON.stringify({ key_list: keys, notify }));
  else await writeConfig(config, keys);
  await writeJsonl(input, records);
  return {
    dir,
    config,
    input,
    output,
    base: ['run', input, '-o', output, '-c', config, '-m', 'gpt-4o-mini'],
  };
}

const lines = (text: string) => text.trimEnd().split('\n');

describe.concurrent('keybatch run rails', () => {
  it('names an unknown flag first, before a missing -o; a missing -o alone is named too (exit 2, one line)', async () => {
    const { dir, input } = await setup([{ api_key: KEYS.good, base_url: sim.url }], [{ prompt: 'x' }]);
    const unknown = await cli(['run', input, '--frobnicate'], { cwd: dir });
    expect(unknown.code).toBe(2);
    expect(lines(unknown.stderr)).toEqual(["keybatch: unknown option '--frobnicate' (see --help)"]);
    const missing = await cli(['run', input], { cwd: dir });
    expect(missing.code).toBe(2);
    expect(lines(missing.stderr)).toEqual([
      "keybatch: required option '-o, --output <file>' not specified (see --help)",
    ]);
  });

  it('refuses --workers above 64, --concurrency above 1024 and a --timeout that is not > 0, naming flag and value', async () => {
    const { dir, base } = await setup([{ api_key: KEYS.good, base_url: sim.url }], [{ prompt: 'x' }]);
    const cases: Array<[string[], string]> = [
      [
        ['--workers', '65'],
        "option '--workers <n>' argument '65' is invalid. Expected a whole number from 1 to 64.",
      ],
      [
        ['--concurrency', '100000'],
        "option '--concurrency <n>' argument '100000' is invalid. Expected a whole number from 1 to 1024.",
      ],
      [['--timeout', '0'], "option '--timeout <seconds>' argument '0' is invalid."],
    ];
    const results = await Promise.all(cases.map(([flags]) => cli([...base, ...flags], { cwd: dir })));
    results.forEach((result, i) => {
      expect(result.code).toBe(2);
      expect(lines(result.stderr)).toEqual([expect.stringContaining(`keybatch: ${cases[i]![1]}`)]);
    });
  });

  it('--timeout 1 ends each attempt on a server that never answers after about a second (default: 600 s)', async () => {
    const silent = await silentServer();
    const { dir, base } = await setup(
      [{ api_key: KEYS.slow, base_url: `${silent.url}/v1` }],
      [{ prompt: 'x' }],
    );
    const run = startCli([...base, '--timeout', '1', '--workers', '1', '--concurrency', '1'], { cwd: dir });
    await until(
      () => silent.requests.some((r) => r.closedAfter !== undefined),
      30_000,
      'an attempt given up',
    );
    run.proc.kill('SIGKILL');
    await run.done;
    const first = silent.requests.find((r) => r.closedAfter !== undefined)!;
    // The client gave up on it (the attempt's clock starts before the request reaches the server).
    expect(first.closedAfter).toBeLessThan(30_000);
  });

  it('--quiet hides progress and the summary, but not the key rejections and the blocked state', async () => {
    const { dir, base } = await setup([{ api_key: KEYS.unknown, base_url: sim.url }], [{ prompt: 'x' }]);
    const result = await cli([...base, '--quiet', '--wait-timeout', '1'], { cwd: dir });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/keybatch: key sk-…3001 was rejected/);
    expect(result.stderr).toMatch(/keybatch: no usable key/);
    expect(lines(result.stderr).at(-1)).toMatch(/^keybatch: .*rerun the same command to resume: /);
    expect(result.stderr).not.toContain('stopped after');
    expect(result.stderr).not.toMatch(/\bdone\b/);
  });

  it('a webhook that never answers delays the exit by at most the 3 s bound, and the run says so', async () => {
    const silent = await silentServer();
    const { dir, base } = await setup([{ api_key: KEYS.good, base_url: sim.url }], [{ prompt: 'hook 1' }], {
      webhook: `${silent.url}/hook`,
    });
    const started = Date.now();
    const result = await cli([...base, '--quiet'], { cwd: dir });
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(
      /keybatch: notify: timed out at exit: gave up after 3 s; not delivered: \d+ to webhook/,
    );
    // Unbounded, the "started" and "finished" posts wait 5 s each, one after the other.
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(silent.requests.length).toBeGreaterThanOrEqual(1);
  });

  it('-o on a file keybatch did not write is refused (exit 2, one line, no stack) unless --overwrite', async () => {
    const { dir, base, output } = await setup(
      [{ api_key: KEYS.good, base_url: sim.url }],
      [{ prompt: 'mine' }],
    );
    await writeFile(output, 'precious\n');
    const refused = await cli(base, { cwd: dir });
    expect(refused.code).toBe(2);
    expect(lines(refused.stderr)).toHaveLength(1);
    expect(refused.stderr).toMatch(/^keybatch: .*out\.jsonl.*--overwrite/);
    expect(refused.stderr).not.toMatch(/\n\s+at /);
    const replaced = await cli([...base, '--overwrite'], { cwd: dir });
    expect(replaced.code).toBe(0);
  });

  it('a second run on the same output while the first runs is refused naming its pid (exit 2, one line)', async () => {
    const records = [{ prompt: 'held [[sim:hang]]' }];
    const { dir, base, output } = await setup([{ api_key: KEYS.good, base_url: sim.url }], records);
    const first = startCli(base, { cwd: dir });
    await until(
      () => existsSync(join(`${output}.keybatch`, LOCK_FILE)),
      30_000,
      'the first run holding the lock',
    );
    const second = await cli(base, { cwd: dir });
    first.proc.kill('SIGKILL');
    await first.done;
    expect(second.code).toBe(2);
    expect(lines(second.stderr)).toEqual([expect.stringContaining(`pid ${first.proc.pid}`)]);
  });

  it('(a full tmpfs) a checkpoint that cannot be written stops the run: exit 2, one line naming the file, resumable', async () => {
    const records = Array.from({ length: 60 }, (_, i) => ({ prompt: `${i} ${'x'.repeat(3000)}` }));
    const { dir, config, input } = await setup([{ api_key: KEYS.good, base_url: sim.url }], records);
    const full = join(dir, 'full');
    await mkdir(full);
    const unmount = mountTmpfs(full, 'size=64k');
    try {
      const args = [
        'run',
        input,
        '-o',
        join(full, 'out.jsonl'),
        '-c',
        config,
        '-m',
        'gpt-4o-mini',
        '--quiet',
      ];
      const result = await cli(args, { cwd: dir });
      expect(result.code).toBe(2);
      expect(lines(result.stderr)).toEqual([
        expect.stringMatching(/^keybatch: .*worker-\d+\.jsonl: no space left on device \(ENOSPC\).*rerun/),
      ]);
    } finally {
      unmount();
    }
  });
});
