// runPipeline with `itemKey`: a content-keyed checkpoint. Counts of fn calls are the task's own (no HTTP here).
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runPipeline } from '../../src/pipeline/pipeline.js';
import { useTempDir } from '../helpers.js';

const tempDir = useTempDir();
const config = { key_list: [{ api_key: 'sk-test-itemkey-0001', base_url: 'http://127.0.0.1:9/v1' }] };

/** Runs over `items`, given as an array, or (`file`) as a .jsonl file beside the output. */
async function run(items: Array<{ k: string; n: number }>, output: string, itemKey = true, file = false) {
  const seen: string[] = [];
  let data: Array<{ k: string; n: number }> | string = items;
  if (file) {
    data = `${output}.input.jsonl`;
    await writeFile(data, items.map((item) => `${JSON.stringify(item)}\n`).join(''));
  }
  const { stats } = await runPipeline(
    config,
    data,
    (chunk: Array<{ k: string; n: number }>) => {
      seen.push(...chunk.map((item) => item.k));
      return chunk.map((item) => ({ k: item.k, twice: item.n * 2 }));
    },
    {
      output,
      workers: 2,
      chunkSize: 3,
      handleSignals: false,
      ...(itemKey ? { itemKey: (item) => item.k } : {}),
    },
  );
  const rows = (await readFile(output, 'utf8'))
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as { k: string; twice: number });
  return { seen, stats, rows };
}

const items = (keys: string[]) => keys.map((k) => ({ k, n: Number(k.slice(1)) }));

describe('runPipeline itemKey', () => {
  it('a rerun over a grown, edited, reordered input runs only the new keys, and writes the new order', async () => {
    const out = join(await tempDir(), 'out.jsonl');
    const first = await run(items(['k1', 'k2', 'k3', 'k4', 'k5']), out);
    expect(first.seen.sort()).toEqual(['k1', 'k2', 'k3', 'k4', 'k5']);

    const second = await run(items(['k5', 'k9', 'k3', 'k1', 'k7', 'k2']), out);
    expect(second.seen.sort()).toEqual(['k7', 'k9']);
    expect(second.rows.map((r) => r.k)).toEqual(['k5', 'k9', 'k3', 'k1', 'k7', 'k2']);
    expect(second.stats).toMatchObject({ total: 6, done: 2, skipped: 4, failed: 0 });
  });

  it('from a .jsonl file: a rerun over a grown, edited, reordered input with duplicates runs only the new keys', async () => {
    const out = join(await tempDir(), 'out.jsonl');
    // The first run from an array, the rest from files: the same keys either way.
    const first = await run(items(['k1', 'k2', 'k3', 'k4', 'k5']), out);
    expect(first.seen.sort()).toEqual(['k1', 'k2', 'k3', 'k4', 'k5']);
    const order = ['k5', 'k9', 'k3', 'k1', 'k9', 'k7', 'k2', 'k5'];
    const second = await run(items(order), out, true, true);
    expect(second.seen.sort()).toEqual(['k7', 'k9']);
    expect(second.rows.map((r) => r.k)).toEqual(order);
    expect(second.stats).toMatchObject({ total: 8, failed: 0 });
    const third = await run(items(['k8', ...order]), out, true, true);
    expect(third.seen).toEqual(['k8']);
    expect(third.rows.map((r) => r.k)).toEqual(['k8', ...order]);
  });

  it('from a .jsonl file: a bad line or a key that is not a string is refused before anything runs', async () => {
    const dir = await tempDir();
    const input = join(dir, 'in.jsonl');
    let calls = 0;
    const task = (chunk: unknown[]) => {
      calls += chunk.length;
      return chunk;
    };
    const options = { output: join(dir, 'out.jsonl'), handleSignals: false };
    await writeFile(input, '{"k":"k1"}\n{"k":"k2"}\n{"k":\n');
    await expect(
      runPipeline(config, input, task, { ...options, itemKey: (item: { k: string }) => item.k }),
    ).rejects.toThrow(`${input}:3: not valid JSON`);
    await writeFile(input, '{"k":"k1"}\n{"k":2}\n');
    await expect(
      runPipeline(config, input, task, { ...options, itemKey: (item: { k: string }) => item.k }),
    ).rejects.toThrow('itemKey returned number for item 1; expected a string');
    expect(calls).toBe(0);
  });

  it('duplicate keys run once and fill every place; results without output follow the input order', async () => {
    const out = join(await tempDir(), 'out.jsonl');
    const dup = await run(items(['k1', 'k2', 'k1', 'k1', 'k3', 'k2']), out);
    expect(dup.seen.sort()).toEqual(['k1', 'k2', 'k3']);
    expect(dup.rows.map((r) => r.k)).toEqual(['k1', 'k2', 'k1', 'k1', 'k3', 'k2']);
    expect(dup.stats).toMatchObject({ total: 6, done: 6 });

    const { results } = await runPipeline(
      config,
      items(['k4', 'k1', 'k4']),
      (chunk: Array<{ k: string }>) => chunk.map((item) => item.k.toUpperCase()),
      { itemKey: (item) => item.k, handleSignals: false },
    );
    expect(results).toEqual(['K4', 'K1', 'K4']);
  });

  it('without itemKey a changed input is still refused (position identity is the default)', async () => {
    const out = join(await tempDir(), 'out.jsonl');
    await run(items(['k1', 'k2']), out, false);
    await expect(run(items(['k1', 'k2', 'k3']), out, false)).rejects.toThrow(/different input/);
  });

  it('a torn last key of keys.bin (a kill mid-append) is cut off, and its item runs again', async () => {
    const out = join(await tempDir(), 'out.jsonl');
    await run(items(['k1', 'k2']), out);
    const keys = join(`${out}.keybatch`, 'keys.bin');
    await writeFile(keys, Buffer.concat([await readFile(keys), Buffer.from([1, 2, 3])]));
    const again = await run(items(['k1', 'k2', 'k3']), out);
    expect(again.seen).toEqual(['k3']);
    expect((await readFile(keys)).length).toBe(3 * 16);
  });
});
