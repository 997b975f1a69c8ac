import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DoneSet, openRunDir, readResults } from '../../src/checkpoint/index.js';
import type { KeybatchError } from '../../src/errors.js';
import { caught, tempDir } from './helpers.js';

const init = { fingerprint: 'f'.repeat(64), options: {} };

async function newRun() {
  const dir = join(await tempDir(), 'run');
  return { dir, run: await openRunDir(dir, init) };
}

describe('scan', () => {
  it('an empty run directory has nothing done and no lanes', async () => {
    const { run } = await newRun();
    const scan = await run.scan();
    expect(scan).toMatchObject({ lines: 0, tornLines: 0, maxLane: -1 });
    expect(scan.done.size).toBe(0);
    expect(scan.failed.size).toBe(0);
  });

  it('a truncated last line is ignored (torn count 1) and its item is not done', async () => {
    const { dir, run } = await newRun();
    await writeFile(join(dir, 'worker-0.jsonl'), '{"i":0,"r":"a"}\n{"i":1,"r":{"x":[1,2');
    const scan = await run.scan();
    expect(scan.tornLines).toBe(1);
    expect(scan.lines).toBe(1);
    expect([...scan.done]).toEqual([0]);
  });

  it('a torn last line that happens to end in } is still torn', async () => {
    const { dir, run } = await newRun();
    await writeFile(join(dir, 'worker-0.jsonl'), '{"i":0,"r":"a"}\n{"i":1,"r":{"x":{"y":1}');
    const scan = await run.scan();
    expect(scan.tornLines).toBe(1);
    expect(scan.done.has(1)).toBe(false);
  });

  it('a complete last line without its newline counts', async () => {
    const { dir, run } = await newRun();
    await writeFile(join(dir, 'worker-0.jsonl'), '{"i":0,"r":"a"}\n{"i":1,"r":{"x":{"y":1}}}');
    const scan = await run.scan();
    expect(scan.tornLines).toBe(0);
    expect([...scan.done]).toEqual([0, 1]);
  });

  it('a later append after a torn line lands on its own line', async () => {
    const { dir, run } = await newRun();
    const file = join(dir, 'worker-0.jsonl');
    await writeFile(file, '{"i":0,"r":"a"}\n{"i":1,"r":"b');
    expect((await run.scan()).tornLines).toBe(1);

    const lane = run.openLane(0);
    lane.append([{ i: 1, r: 'b' }]);
    lane.append([{ i: 2, r: 'c' }]);
    lane.close();
    expect(await readFile(file, 'utf8')).toBe('{"i":0,"r":"a"}\n{"i":1,"r":"b"}\n{"i":2,"r":"c"}\n');
    const scan = await run.scan();
    expect(scan).toMatchObject({ lines: 3, tornLines: 0 });
    expect([...scan.done]).toEqual([0, 1, 2]);
  });

  it('an append after a complete last line without newline starts a new line', async () => {
    const { dir, run } = await newRun();
    const file = join(dir, 'worker-4.jsonl');
    await writeFile(file, '{"i":0,"r":"a"}');
    run.openLane(4).append([{ i: 1, r: 'b' }]);
    expect(await readFile(file, 'utf8')).toBe('{"i":0,"r":"a"}\n{"i":1,"r":"b"}\n');
  });

  it('a corrupt middle line costs only its own item, and is counted and named', async () => {
    const { dir, run } = await newRun();
    const file = join(dir, 'worker-1.jsonl');
    await writeFile(file, '{"i":0,"r":"a"}\n\n{"i":1,"r":"b"\n{"i":2,"r":"c"}\n{"i":3,"r":"d"}\n');
    const scan = await run.scan();
    expect([...scan.done]).toEqual([0, 2, 3]);
    expect(scan).toMatchObject({ lines: 3, tornLines: 0, corruptLines: 1 });
    expect(scan.corrupt).toHaveLength(1);
    expect(scan.corrupt[0]).toContain(`${file}: 1 corrupt line(s) skipped (first: line 3`);
    expect(scan.corrupt[0]).toContain('redone');
    const read: number[] = [];
    expect(await readResults(dir, (i) => read.push(i))).toBe(3);
    expect(read).toEqual([0, 2, 3]);
  });

  it('a record cut short with another glued after it (a failed write, then a retry) is corrupt', async () => {
    const { dir, run } = await newRun();
    // The first write of item 6 stopped mid-record; the retry appended after its bytes.
    await writeFile(
      join(dir, 'worker-0.jsonl'),
      '{"i":5,"r":"e"}\n{"i":6,"r":{"text":"ha{"i":6,"r":{"text":"half"}}\n{"i":7,"r":"g"}\n',
    );
    const scan = await run.scan();
    expect([...scan.done]).toEqual([5, 7]);
    expect(scan.corruptLines).toBe(1);
    const output = join(dir, '..', 'out.jsonl');
    expect((await run.merge(output, 8)).missingCount).toBe(6);
  });

  it('a result that holds an object with an "i" key is a good record', async () => {
    const { dir, run } = await newRun();
    const lane = run.openLane(0);
    lane.append([
      { i: 0, r: { i: 3, r: 'not a record' } },
      { i: 1, r: [{ i: 1 }, '{"i":2'] },
    ]);
    lane.close();
    const scan = await run.scan();
    expect(scan).toMatchObject({ lines: 2, corruptLines: 0 });
    const values: unknown[] = [];
    await readResults(dir, (_i, value) => values.push(value));
    expect(values).toEqual([{ i: 3, r: 'not a record' }, [{ i: 1 }, '{"i":2']]);
  });

  it('lines not in the record format are skipped, wherever they are', async () => {
    const { dir, run } = await newRun();
    await writeFile(
      join(dir, 'worker-0.jsonl'),
      '{"i": 0, "r": "a"}\n{"i":1,"r":"b"}\ngarbage\n{"i":2,"r":"c"}\n',
    );
    const scan = await run.scan();
    expect([...scan.done]).toEqual([1, 2]);
    expect(scan.corruptLines).toBe(2);
    expect(scan.corrupt[0]).toMatch(/worker-0.jsonl: 2 corrupt line\(s\) skipped \(first: line 1, it /);
  });

  it('failure then success for the same item is done, not failed', async () => {
    const { run } = await newRun();
    const a = run.openLane(0);
    const b = run.openLane(1);
    const error = { name: 'RateLimitError', message: 'slow down', code: 'rate_limit_exceeded', status: 429 };
    a.append([
      { i: 0, e: error },
      { i: 1, e: error },
    ]);
    b.append([{ i: 0, r: 'ok' }]);
    a.append([{ i: 2, r: 'ok' }]);
    b.append([{ i: 2, e: { name: 'Error', message: 'late failure' } }]);
    const scan = await run.scan();
    expect([...scan.done]).toEqual([0, 2]);
    expect([...scan.failed.keys()]).toEqual([1]);
    expect(scan.failed.get(1)).toEqual(error);
  });

  it('the latest failure of an item is the one reported', async () => {
    const { run } = await newRun();
    const lane = run.openLane(0);
    lane.append([{ i: 5, e: { name: 'Error', message: 'first' } }]);
    lane.append([{ i: 5, e: { name: 'Error', message: 'second', stack: 'Error: second\n    at x' } }]);
    const failure = (await run.scan()).failed.get(5);
    expect(failure).toEqual({ name: 'Error', message: 'second' });
  });

  it('scans lane ids 0..5 from an earlier run while a new run appends on 2 lanes', async () => {
    const { dir, run } = await newRun();
    for (let lane = 0; lane <= 5; lane++) {
      const writer = run.openLane(lane);
      writer.append([{ i: lane * 2, r: lane * 2 }]);
      writer.append([{ i: lane * 2 + 1, r: lane * 2 + 1 }]);
      writer.close();
    }
    await run.close();
    const resumed = await openRunDir(dir, init);
    const before = await resumed.scan();
    expect(before).toMatchObject({ lines: 12, maxLane: 5 });
    expect([...before.done]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);

    const lanes = [resumed.openLane(0), resumed.openLane(1)];
    for (let i = 12; i < 20; i++) lanes[i % 2]!.append([{ i, r: i }]);
    for (const lane of lanes) lane.close();
    const after = await resumed.scan();
    expect(after).toMatchObject({ lines: 20, maxLane: 5 });
    expect(after.done.size).toBe(20);

    const output = join(dir, '..', 'out.jsonl');
    expect(await resumed.merge(output, 20)).toMatchObject({ written: 20, failed: 0, missing: [] });
    const expected = Array.from({ length: 20 }, (_, i) => `${i}\n`).join('');
    expect(await readFile(output, 'utf8')).toBe(expected);
  });

  it('a result longer than the read block is read whole', async () => {
    const { dir, run } = await newRun();
    const big = 'é'.repeat(3 * 1024 * 1024); // 6 MiB of UTF-8, more than one 4 MiB block
    const lane = run.openLane(0);
    lane.append([{ i: 0, r: 'small' }]);
    lane.append([{ i: 1, r: big }]);
    lane.append([{ i: 2, r: 'after' }]);
    lane.close();
    const scan = await run.scan();
    expect(scan).toMatchObject({ lines: 3, tornLines: 0 });
    const values: unknown[] = [];
    await run.readResults((i, value) => {
      values[i] = value;
    });
    expect(values).toEqual(['small', big, 'after']);

    const output = join(dir, '..', 'big.jsonl');
    await run.merge(output, 3);
    expect(await readFile(output, 'utf8')).toBe(`"small"\n${JSON.stringify(big)}\n"after"\n`);
  });

  it('readResults gives every saved result, parsed, the later duplicate last', async () => {
    const { dir, run } = await newRun();
    const lane = run.openLane(3);
    lane.append([
      { i: 0, r: { a: [1, 'ü'] } },
      { i: 1, e: { name: 'Error', message: 'x' } },
      { i: 2, r: null },
      { i: 3, r: undefined },
    ]);
    lane.append([{ i: 0, r: { a: [2] } }]);
    const seen: Array<[number, unknown]> = [];
    const count = await readResults(dir, (i, value) => seen.push([i, value]));
    expect(count).toBe(4);
    expect(seen).toEqual([
      [0, { a: [1, 'ü'] }],
      [2, null],
      [3, null],
      [0, { a: [2] }],
    ]);
  });
});

describe('LaneWriter', () => {
  it('writes each chunk as whole lines, and a result JSON cannot hold fails the chunk before any write', async () => {
    const { dir, run } = await newRun();
    const lane = run.openLane(0);
    lane.append([{ i: 0, r: 'ok' }]);
    const error = await caught(() =>
      lane.append([
        { i: 1, r: 'fine' },
        { i: 2, r: { n: 10n } },
      ]),
    );
    expect((error as KeybatchError).code).toBe('TASK_INVALID');
    expect(error.message).toContain('item 2');
    expect(() => lane.append([{ i: -1, r: 1 }])).toThrow(RangeError);
    lane.append([]);
    expect(await readFile(join(dir, 'worker-0.jsonl'), 'utf8')).toBe('{"i":0,"r":"ok"}\n');
  });
});

describe('DoneSet', () => {
  it('grows as needed and counts distinct indices', () => {
    const done = new DoneSet(8);
    expect(done.add(3)).toBe(true);
    expect(done.add(3)).toBe(false);
    expect(done.add(31)).toBe(true);
    expect(done.add(32)).toBe(true);
    expect(done.add(1_000_003)).toBe(true);
    expect(done.size).toBe(4);
    expect(done.has(3) && done.has(31) && done.has(32) && done.has(1_000_003)).toBe(true);
    expect(done.has(4) || done.has(1_000_002) || done.has(50_000_000) || done.has(-1) || done.has(1.5)).toBe(
      false,
    );
    expect([...done]).toEqual([3, 31, 32, 1_000_003]);
    expect(() => done.add(-1)).toThrow(RangeError);
  });
});

describe('a crash mid-write', () => {
  it('leaves a torn tail that the next writer cuts off before appending', async () => {
    const { dir, run } = await newRun();
    const file = join(dir, 'worker-0.jsonl');
    const lane = run.openLane(0);
    lane.append([{ i: 0, r: 'a' }]);
    lane.close();
    // What a kill -9 during a write leaves: part of the next chunk, no final newline.
    await appendFile(file, '{"i":1,"r":"b"}\n{"i":2,"r":"c');
    const scan = await run.scan();
    expect(scan).toMatchObject({ lines: 2, tornLines: 1 });
    run.openLane(0).append([{ i: 2, r: 'c' }]);
    const again = await run.scan();
    expect(again).toMatchObject({ lines: 3, tornLines: 0 });
  });
});

describe('record indices', () => {
  it('an index past 2^32 - 1 is refused on write and is not a valid record on read', async () => {
    const { dir, run } = await newRun();
    expect(() => run.openLane(0).append([{ i: 2 ** 32, r: 1 }])).toThrow(RangeError);
    await writeFile(
      join(dir, 'worker-1.jsonl'),
      `{"i":${2 ** 32 - 1},"r":1}\n{"i":99999999999,"r":1}\n{"i":0,"r":1}\n`,
    );
    const scan = await run.scan();
    expect([...scan.done]).toEqual([0, 2 ** 32 - 1]);
    expect(scan.corrupt[0]).toMatch(
      /worker-1.jsonl: 1 corrupt line\(s\) skipped \(first: line 2, it has no valid index/,
    );
  });
});
