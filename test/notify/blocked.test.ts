import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Notifier } from '../../src/notify/index.js';
import { type Received, type Receiver, startReceiver } from './receiver.js';

interface Generic {
  event: string;
  message: string;
  time: string;
  details: Record<string, unknown>;
}

const receivers: Receiver[] = [];
const notifiers: Notifier[] = [];

afterEach(async () => {
  await Promise.all(notifiers.splice(0).map((n) => n.close()));
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

async function setup(baseWaitTime: number): Promise<{ r: Receiver; n: Notifier }> {
  const r = await startReceiver();
  receivers.push(r);
  const n = new Notifier({ webhook: r.url, baseWaitTime }, { env: {} });
  notifiers.push(n);
  return { r, n };
}

const body = (req: Received) => req.body as Generic;
const isBlocked = (req: Received) => body(req).event === 'blocked';
const isResumed = (req: Received) => body(req).event === 'resumed';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Notifier while blocked', () => {
  it('repeats "blocked" with doubling gaps, saying how long it has been blocked', async () => {
    const { r, n } = await setup(0.05);
    n.startBlocked('no usable key', { keys: 2 });
    expect(n.blocked).toBe(true);
    const blocked = (await r.waitFor(4, isBlocked)).map(body);

    // The first is immediate and plain; repeats say how long, in order.
    expect(blocked[0]?.message).toBe('no usable key');
    expect(blocked[0]?.details).toMatchObject({ keys: 2, blockedSince: expect.any(String) });
    expect(blocked.slice(1).map((b) => b.details['repeat'])).toEqual([1, 2, 3]);
    for (const b of blocked.slice(1)) {
      expect(b.message).toMatch(/^no usable key \(blocked for \d+ms\)$/);
      expect(b.details['keys']).toBe(2);
    }
    // Sent at about 0, 50, 150, 350 ms: gaps of about 50, 100, 200 ms. Timers never fire early,
    // so each gap is at least ~its delay; later gaps are clearly longer than earlier ones.
    const times = blocked.map((b) => Date.parse(b.time));
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(gaps[0]!).toBeGreaterThanOrEqual(40);
    expect(gaps[1]!).toBeGreaterThanOrEqual(90);
    expect(gaps[2]!).toBeGreaterThanOrEqual(180);
    const blockedFor = blocked.slice(1).map((b) => b.details['blockedForMs'] as number);
    expect(blockedFor[0]!).toBeGreaterThanOrEqual(40);
    expect(blockedFor[2]!).toBeGreaterThanOrEqual(330);
  });

  it('sends "resumed" on stopBlocked and no "blocked" after it', async () => {
    const { r, n } = await setup(0.05);
    n.startBlocked('no usable key');
    await r.waitFor(2, isBlocked); // the immediate one and the first repeat (~50 ms)
    n.stopBlocked('keys usable again');
    expect(n.blocked).toBe(false);
    const [resumed] = await r.waitFor(1, isResumed);
    expect(body(resumed!).message).toMatch(/^keys usable again \(was blocked for \d+ms\)$/);
    expect(body(resumed!).details['blockedForMs']).toBeGreaterThanOrEqual(40);
    // Without stopBlocked the next repeat would come ~100 ms after the last one.
    await sleep(350);
    const events = r.received.map((req) => body(req).event);
    expect(events.at(-1)).toBe('resumed');
    expect(events.filter((e) => e === 'resumed')).toHaveLength(1);
    // stopBlocked when not blocked sends nothing.
    n.stopBlocked('again');
    await n.close();
    expect(r.received).toHaveLength(events.length);
  });

  it('is idempotent while already blocked', async () => {
    const { r, n } = await setup(60);
    n.startBlocked('first');
    n.startBlocked('second');
    n.startBlocked('third');
    await n.close(); // awaits the deliveries under way
    expect(r.received.map((req) => body(req).message)).toEqual(['first']);
  });

  it('can block again after resuming', async () => {
    const { r, n } = await setup(60);
    n.startBlocked('one');
    n.stopBlocked('back');
    n.startBlocked('two');
    await n.close();
    expect(r.received.map((req) => body(req).event)).toEqual(['blocked', 'resumed', 'blocked']);
  });

  it('sends nothing more after close()', async () => {
    const { r, n } = await setup(0.05);
    n.startBlocked('no usable key');
    await r.waitFor(1, isBlocked);
    await n.close();
    const count = r.received.length;
    n.startBlocked('again');
    n.stopBlocked('back');
    await n.send({ kind: 'finished', message: 'late' });
    await sleep(250); // past the next two repeats had they been scheduled
    expect(r.received).toHaveLength(count);
    expect(n.blocked).toBe(false);
    await n.close(); // a second close is fine
  });

  it('never keeps the process alive: a blocked notifier lets node exit', async () => {
    const r = await startReceiver();
    receivers.push(r);
    const fixture = fileURLToPath(new URL('./fixtures/blocked-then-idle.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, r.url], { stdio: 'pipe' });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error('the child process did not exit: a notifier timer keeps it alive'));
      }, 10_000);
      child.on('exit', (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
    });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(r.received.map((req) => body(req).event)).toEqual(['blocked', 'started']);
  });
});
