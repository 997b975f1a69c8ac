import { describe, expect, it } from 'vitest';
import { ByteGate } from '../../src/files/byte-gate.js';

describe('ByteGate: file bytes held by requests in flight', () => {
  it('lets requests in while they fit, queues the rest in arrival order, and lets one larger than the bound go alone', async () => {
    const gate = new ByteGate(100);
    const order: string[] = [];
    const noted = (name: string) => (release: () => void) => {
      order.push(name);
      return release;
    };
    const a = await gate.acquire(60);
    const b = await gate.acquire(40);
    expect(gate.held).toBe(100);
    const c = gate.acquire(10).then(noted('c'));
    const big = gate.acquire(500).then(noted('big'));
    const d = gate.acquire(5).then(noted('d'));
    expect(gate.waiting).toBe(3);
    a();
    const releaseC = await c;
    expect(order).toEqual(['c']);
    // `big` is next: `d` waits behind it (arrival order), though it would fit.
    expect(gate.waiting).toBe(2);
    b();
    releaseC();
    const releaseBig = await big;
    expect(gate.held).toBe(500);
    releaseBig();
    (await d)();
    expect(order).toEqual(['c', 'big', 'd']);
    expect(gate.held).toBe(0);
  });

  it('a waiter whose signal aborts leaves the queue and the ones behind it go on', async () => {
    const gate = new ByteGate(10);
    const first = await gate.acquire(10);
    const stop = new AbortController();
    const stopped = gate.acquire(5, stop.signal);
    const next = gate.acquire(5);
    stop.abort(new Error('stopped'));
    await expect(stopped).rejects.toThrow('stopped');
    expect(gate.waiting).toBe(1);
    first();
    (await next)();
    expect(gate.held).toBe(0);
    // Releasing twice frees once.
    const again = await gate.acquire(3);
    again();
    again();
    expect(gate.held).toBe(0);
  });
});
