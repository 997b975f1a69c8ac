import { appendFile, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type LaneWriter, openRunDir, type RunDir } from '../../src/checkpoint/index.js';
import { tempDir } from './helpers.js';

const init = { fingerprint: 'e'.repeat(64), options: { chunkSize: 3 } };

async function newRun(): Promise<{ root: string; dir: string; run: RunDir }> {
  const root = await tempDir();
  const dir = join(root, 'out.jsonl.keybatch');
  return { root, dir, run: await openRunDir(dir, init) };
}

/** A deterministic result per item, of varied JSON shapes. */
function resultOf(i: number): unknown {
  switch (i % 5) {
    case 0:
      return { i, text: `ünïcødé ✓ 😀 "quoted" \\ \n line ${i}`, nested: { list: [1, 2.5, -3e-7, true] } };
    case 1:
      return null;
    case 2:
      return i * 1.25;
    case 3:
      return `\u2028 plain ${i}`;
    default:
      return [i, { deep: { deeper: [null, 'x'] } }];
  }
}

describe('merge', () => {
  it('writes every item once, in input order, from lines shuffled across lanes', async () => {
    const { root, run } = await newRun();
    const lanes = [run.openLane(0), run.openLane(1), run.openLane(2)];
    const order = [7, 2, 9, 0, 4, 1, 8, 3, 6, 5];
    for (const [n, i] of order.entries()) lanes[n % 3]!.append([{ i, r: resultOf(i) }]);
    const output = join(root, 'out.jsonl');
    const result = await run.merge(output, 10);
    expect(result).toEqual({ written: 10, failed: 0, missing: [], missingCount: 0 });
    const expected = order
      .slice()
      .sort((a, b) => a - b)
      .map((i) => `${JSON.stringify(resultOf(i))}\n`)
      .join('');
    expect(await readFile(output, 'utf8')).toBe(expected);
    expect((await readdir(root)).sort()).toEqual(['out.jsonl', 'out.jsonl.keybatch']);
  });

  it('copies result JSON byte for byte, never re-serialising it', async () => {
    const { root, dir, run } = await newRun();
    // Written by hand: spacing and number forms JSON.stringify would change.
    const values = [
      '{ "b" : 1.50, "a": [ 1e3, "\\u00e9 é 😀", null ] }',
      '"snow ☃ and \\"quotes\\""',
      'null',
      '-0.0',
      '{"nested":{"x":{"y":[{}]}}}',
    ];
    await writeFile(
      join(dir, 'worker-7.jsonl'),
      values.map((value, i) => `{"i":${values.length - 1 - i},"r":${value}}\n`).join(''),
    );
    const output = join(root, 'out.jsonl');
    await run.merge(output, values.length);
    expect(await readFile(output, 'utf8')).toBe(
      values
        .slice()
        .reverse()
        .map((value) => `${value}\n`)
        .join(''),
    );
  });

  it('writes an error line for each item that failed and never succeeded', async () => {
    const { root, run } = await newRun();
    const lane = run.openLane(0);
    lane.append([
      { i: 0, r: 'fine' },
      { i: 1, e: { name: 'RateLimitError', message: 'Too many requests', code: 'rate_limit', status: 429 } },
      { i: 2, e: { name: 'TypeError', message: 'x is not a function', stack: 'TypeError: …' } },
      { i: 3, e: { name: 'Error', message: 'retried later' } },
    ]);
    lane.append([{ i: 3, r: 'recovered' }]);
    const output = join(root, 'out.jsonl');
    const result = await run.merge(output, 4);
    expect(result).toMatchObject({ written: 4, failed: 2, missing: [] });
    expect((await readFile(output, 'utf8')).split('\n')).toEqual([
      '"fine"',
      '{"error":{"code":"rate_limit","message":"Too many requests","status":429}}',
      '{"error":{"code":null,"message":"x is not a function"}}',
      '"recovered"',
      '',
    ]);
  });

  it('refuses when an item has no record: no output written, an existing one untouched', async () => {
    const { root, run } = await newRun();
    const output = join(root, 'out.jsonl');
    await writeFile(output, 'previous complete output\n');
    const lane = run.openLane(0);
    for (let i = 0; i < 100; i++) if (i !== 3 && (i < 50 || i > 80)) lane.append([{ i, r: i }]);
    const result = await run.merge(output, 100);
    expect(result.written).toBe(0);
    expect(result.missingCount).toBe(32);
    expect(result.missing).toEqual([3, ...Array.from({ length: 19 }, (_, k) => 50 + k)]);
    expect(await readFile(output, 'utf8')).toBe('previous complete output\n');
    expect((await readdir(root)).sort()).toEqual(['out.jsonl', 'out.jsonl.keybatch']);
  });

  it('replaces an existing output with the complete new one; records past total are ignored', async () => {
    const { root, run } = await newRun();
    const output = join(root, 'out.jsonl');
    await writeFile(output, 'old\n');
    run.openLane(0).append([
      { i: 1, r: 'b' },
      { i: 0, r: 'a' },
      { i: 2, r: 'past the end' },
    ]);
    expect(await run.merge(output, 2)).toMatchObject({ written: 2, missing: [] });
    expect(await readFile(output, 'utf8')).toBe('"a"\n"b"\n');
    expect(await run.merge(output, 0)).toMatchObject({ written: 0, missing: [] });
    expect(await readFile(output, 'utf8')).toBe('');
  });

  it('ignores a torn last line when merging', async () => {
    const { root, dir, run } = await newRun();
    run.openLane(0).append([
      { i: 0, r: 'a' },
      { i: 1, r: 'b' },
    ]);
    await appendFile(join(dir, 'worker-0.jsonl'), '{"i":2,"r":"tor');
    const output = join(root, 'out.jsonl');
    expect(await run.merge(output, 3)).toMatchObject({ missing: [2] });
    expect(await run.merge(output, 2)).toMatchObject({ written: 2 });
    expect(await readFile(output, 'utf8')).toBe('"a"\n"b"\n');
  });

  it('any chunking, lane assignment, duplicates, failures and crashes merge to the expected output', async () => {
    const chunkPlan = fc.record({
      lane: fc.nat({ max: 4 }),
      failFirstOn: fc.option(fc.nat({ max: 4 }), { nil: undefined }),
      duplicateOn: fc.option(fc.nat({ max: 4 }), { nil: undefined }),
      permanentFailure: fc.boolean(),
      order: fc.double({ min: 0, max: 1, noNaN: true }),
    });
    const scenario = fc.record({
      total: fc.nat({ max: 120 }),
      chunkSize: fc.integer({ min: 1, max: 17 }),
      plans: fc.array(chunkPlan, { minLength: 120, maxLength: 120 }),
      crashes: fc.array(fc.nat({ max: 4 }), { maxLength: 3 }),
    });

    await fc.assert(
      fc.asyncProperty(scenario, async ({ total, chunkSize, plans, crashes }) => {
        const { root, dir, run: made } = await newRun();
        await made.close();
        const events: Array<{ lane: number; order: number; ok: boolean; items: number[] }> = [];
        const succeeded = new Set<number>();
        for (let start = 0, c = 0; start < total; start += chunkSize, c++) {
          const plan = plans[c % plans.length]!;
          const items = Array.from({ length: Math.min(chunkSize, total - start) }, (_, k) => start + k);
          if (plan.failFirstOn !== undefined) {
            events.push({ lane: plan.failFirstOn, order: plan.order / 2, ok: false, items });
          }
          if (plan.permanentFailure) {
            events.push({ lane: plan.lane, order: plan.order, ok: false, items });
            continue;
          }
          events.push({ lane: plan.lane, order: plan.order, ok: true, items });
          if (plan.duplicateOn !== undefined) {
            events.push({ lane: plan.duplicateOn, order: 1 - plan.order, ok: true, items });
          }
          for (const i of items) succeeded.add(i);
        }
        events.sort((a, b) => a.order - b.order);

        // Split the events into runs; between runs a "crash" leaves a torn line on some lane.
        // A lane file keeps its torn tail until that lane is opened again.
        const cuts = new Set(crashes.map((n) => Math.floor((n / 5) * events.length)));
        const tornFiles = new Set<number>();
        let run = await openRunDir(dir, init);
        let lanes = new Map<number, LaneWriter>();
        const laneOf = (id: number) => {
          let lane = lanes.get(id);
          if (!lane) {
            lane = run.openLane(id);
            tornFiles.delete(id);
            lanes.set(id, lane);
          }
          return lane;
        };
        for (let n = 0; n < events.length; n++) {
          if (cuts.has(n)) {
            for (const lane of lanes.values()) lane.close();
            const crashed = [...lanes.keys()][0] ?? 0;
            await appendFile(join(dir, `worker-${crashed}.jsonl`), `{"i":${n},"r":{"torn":`);
            tornFiles.add(crashed);
            lanes = new Map();
            await run.close(); // as the crashed process's end does
            run = await openRunDir(dir, init);
            expect((await run.scan()).tornLines).toBe(tornFiles.size);
          }
          const event = events[n]!;
          const error = { name: 'Error', message: `failed ${event.items[0]}`, code: 'E_TEST', status: 500 };
          laneOf(event.lane).append(
            event.items.map((i) => (event.ok ? { i, r: resultOf(i) } : { i, e: error })),
          );
        }
        for (const lane of lanes.values()) lane.close();

        const scan = await run.scan();
        expect(scan.done.size).toBe(succeeded.size);
        const output = join(root, 'out.jsonl');
        const result = await run.merge(output, total);
        expect(result.missing).toEqual([]);
        expect(result.written).toBe(total);
        expect(result.failed).toBe(total - succeeded.size);
        const lines = (await readFile(output, 'utf8')).split('\n');
        expect(lines.length).toBe(total + 1);
        for (let i = 0; i < total; i++) {
          if (succeeded.has(i)) expect(lines[i]).toBe(JSON.stringify(resultOf(i)));
          else
            expect(JSON.parse(lines[i]!)).toEqual({
              error: { code: 'E_TEST', message: expect.any(String), status: 500 },
            });
        }
        await run.close();
      }),
      { numRuns: 80 },
    );
  });

  it('200k items through append, scan and merge', async () => {
    const { root, run } = await newRun();
    const total = 200_000;
    const chunkSize = 250;
    const lanes = [0, 1, 2, 3].map((id) => run.openLane(id));
    const chunks = Math.ceil(total / chunkSize);
    // Chunks go to lanes out of order, as concurrent lanes finish them.
    for (let c = 0; c < chunks; c++) {
      const chunk = (c * 7919) % chunks;
      const records = [];
      for (let i = chunk * chunkSize; i < Math.min(total, (chunk + 1) * chunkSize); i++) {
        records.push(
          i % 1000 === 999 ? { i, e: { name: 'Error', message: `bad ${i}` } } : { i, r: { i, s: `v${i}` } },
        );
      }
      lanes[c % 4]!.append(records);
    }
    for (const lane of lanes) lane.close();

    const scan = await run.scan();
    expect(scan.lines).toBe(total);
    expect(scan.done.size).toBe(total - 200);
    expect(scan.failed.size).toBe(200);

    const output = join(root, 'out.jsonl');
    const result = await run.merge(output, total);
    expect(result).toEqual({ written: total, failed: 200, missing: [], missingCount: 0 });
    const lines = (await readFile(output, 'utf8')).split('\n');
    expect(lines.length).toBe(total + 1);
    for (let i = 0; i < total; i++) {
      const expected =
        i % 1000 === 999 ? `{"error":{"code":null,"message":"bad ${i}"}}` : `{"i":${i},"s":"v${i}"}`;
      if (lines[i] !== expected) expect(lines[i]).toBe(expected);
    }
  });
});
