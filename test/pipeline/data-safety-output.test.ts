import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readdir, readFile, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KeybatchError, NoUsableKeyError } from '../../src/errors.js';
import { type PipelineOptions, runPipeline } from '../../src/index.js';
import { collectingLogger, OFFLINE_CONFIG, useTempDir } from '../helpers.js';
import { mountTmpfs } from '../tmpfs.js';

const tempDir = useTempDir();
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

type Item = { n: number };

/** A file-to-file run whose task records what it was sent. */
function runner(input: string) {
  const sent: number[] = [];
  const run = (options: PipelineOptions<unknown, Item>) =>
    runPipeline<Item, { n: number }>(
      OFFLINE_CONFIG,
      input,
      async (chunk) => {
        for (const item of chunk) sent.push(item.n);
        return chunk.map((item) => ({ n: item.n }));
      },
      { workers: 1, chunkSize: 2, handleSignals: false, pool: { notify: false, watch: false }, ...options },
    );
  return { sent, run };
}

async function setUp(n = 4) {
  const dir = await tempDir();
  const input = join(dir, 'in.jsonl');
  await writeFile(input, Array.from({ length: n }, (_, i) => `{"n":${i}}\n`).join(''));
  return { dir, input, output: join(dir, 'out.jsonl'), ...runner(input) };
}

async function refusal(promise: Promise<unknown>): Promise<KeybatchError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(KeybatchError);
  expect((error as KeybatchError).code).toBe('OUTPUT_REFUSED');
  expect((error as KeybatchError).message).not.toContain('\n');
  return error as KeybatchError;
}

/** A finished process's pid (not running any more). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await once(child, 'exit');
  return child.pid!;
}

function liveChild(): ChildProcess {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)']);
  cleanups.push(() => child.kill('SIGKILL'));
  return child;
}

describe('the output is checked before the first request', () => {
  it('the input itself is refused, by path, through a symlink, and even with overwrite', async () => {
    const { dir, input, sent, run } = await setUp();
    const before = await readFile(input, 'utf8');
    const link = join(dir, 'link.jsonl');
    await symlink(input, link);
    for (const [output, overwrite] of [
      [input, false],
      [link, false],
      [input, true],
    ] as const) {
      const error = await refusal(run({ output, overwrite }));
      expect(error.message).toBe(
        `Output ${output} is the input file ${input}; choose another output (not even --overwrite replaces the input)`,
      );
    }
    expect(sent).toEqual([]);
    expect(await readFile(input, 'utf8')).toBe(before);
    expect(await readdir(dir)).toEqual(['in.jsonl', 'link.jsonl']);
  });

  it('an existing file keybatch did not write is refused, untouched, unless overwrite', async () => {
    const { dir, output, sent, run } = await setUp();
    await writeFile(output, 'precious\n');
    const error = await refusal(run({ output }));
    expect(error.message).toBe(
      `Output ${output} exists and is not this run's output (keybatch did not write it: its checkpoint records no output); choose another output, or pass --overwrite / overwrite: true to replace it`,
    );
    expect(sent).toEqual([]);
    expect(await readFile(output, 'utf8')).toBe('precious\n');
    expect((await readdir(dir)).sort()).toEqual(['in.jsonl', 'out.jsonl']); // no run directory left

    const { stats } = await run({ output, overwrite: true });
    expect(stats.done).toBe(4);
    expect(await readFile(output, 'utf8')).toBe('{"n":0}\n{"n":1}\n{"n":2}\n{"n":3}\n');
  });

  it("a rerun replaces this run's own output, also starting fresh; once changed by hand it is refused", async () => {
    const { output, sent, run } = await setUp();
    await run({ output });
    const written = await readFile(output, 'utf8');
    await expect(run({ output })).resolves.toMatchObject({ stats: { skipped: 4 } });
    await expect(run({ output, resume: false })).resolves.toMatchObject({ stats: { done: 4 } });
    expect(sent).toHaveLength(8);
    expect(await readFile(output, 'utf8')).toBe(written);

    // Same size, another modification time: a file put there by someone else.
    const info = await stat(output);
    await utimes(output, info.atime, new Date(info.mtimeMs - 60_000));
    const error = await refusal(run({ output }));
    expect(error.message).toContain('it was changed after keybatch wrote it');
    await writeFile(output, 'edited\n');
    await refusal(run({ output }));
    expect(await readFile(output, 'utf8')).toBe('edited\n');
    await expect(run({ output, overwrite: true })).resolves.toMatchObject({ stats: { skipped: 4 } });
    expect(await readFile(output, 'utf8')).toBe(written);
  });

  it('a directory, a trailing slash, a missing directory and a read-only file system are refused up front', async () => {
    const { dir, sent, run } = await setUp();
    const sub = join(dir, 'results');
    await mkdir(sub);
    const readOnly = join(dir, 'ro');
    await mkdir(readOnly);
    cleanups.push(mountTmpfs(readOnly, 'ro,size=64k'));

    const cases: Array<[string, string]> = [
      [sub, `Output ${sub} is a directory: name a file in it, e.g. ${sub}/out.jsonl`],
      [
        `${join(dir, 'new')}/`,
        `Output ${join(dir, 'new')}/ ends with a path separator: name a file, e.g. ${join(dir, 'new')}/out.jsonl`,
      ],
      [
        join(dir, 'missing', 'out.jsonl'),
        `Output ${join(dir, 'missing', 'out.jsonl')}: directory ${join(dir, 'missing')} does not exist`,
      ],
      [
        join(readOnly, 'out.jsonl'),
        `Output ${join(readOnly, 'out.jsonl')} cannot be written: ${readOnly}: read-only file system (EROFS)`,
      ],
    ];
    for (const [output, message] of cases) {
      expect((await refusal(run({ output }))).message).toBe(message);
    }
    expect(sent).toEqual([]);
    // Nothing was made: no hidden `new/.keybatch`, no run directory in the directory named.
    expect((await readdir(dir)).sort()).toEqual(['in.jsonl', 'results', 'ro']);
    expect(await readdir(sub)).toEqual([]);
  });
});

describe('what a killed run leaves', () => {
  it('temporary files of a killed merge are removed by the next run; a live process keeps its own', async () => {
    const { dir, output, run } = await setUp();
    const dead = await deadPid();
    const live = liveChild();
    const stale = [`out.jsonl.tmp-${dead}`, `out.jsonl.tmp-${process.pid}`];
    const kept = [`out.jsonl.tmp-${live.pid}`, `other.jsonl.tmp-${dead}`, 'out.jsonl.tmp-notes'];
    for (const name of [...stale, ...kept]) await writeFile(join(dir, name), 'x'.repeat(1000));
    await run({ output });
    expect((await readdir(dir)).sort()).toEqual(
      ['in.jsonl', 'out.jsonl', 'out.jsonl.keybatch', ...kept].sort(),
    );
  });

  it("damaged lines in an in-memory run's checkpoint cost only their own items, which are redone", async () => {
    const dir = await tempDir();
    const checkpoint = join(dir, 'run');
    const items = Array.from({ length: 6 }, (_, n) => ({ n }));
    const sent: number[] = [];
    const logger = collectingLogger();
    const run = () =>
      runPipeline<Item, Item>(
        OFFLINE_CONFIG,
        items,
        async (chunk) => {
          for (const item of chunk) sent.push(item.n);
          return chunk;
        },
        {
          checkpoint,
          workers: 1,
          chunkSize: 1,
          handleSignals: false,
          logger,
          pool: { notify: false, watch: false },
        },
      );
    await run();
    const lane = join(checkpoint, 'worker-0.jsonl');
    const lines = (await readFile(lane, 'utf8')).split('\n');
    lines[1] = '{"i":1,"r":{"n":1]}'; // the record's frame is whole, its result is not JSON
    lines[3] = '{"i":3,"r":{"n":'; // cut short mid-file
    await writeFile(lane, lines.join('\n'));
    sent.length = 0;
    const { results, stats } = await run();
    expect(sent.sort()).toEqual([1, 3]);
    expect(stats).toMatchObject({ skipped: 4, done: 2 });
    expect(results).toEqual(items);
    expect(logger.lines).toContain(
      `warn: ${lane}: 1 corrupt line(s) skipped (first: line 4, it is cut short); their items are redone`,
    );
  });

  it('a run that stopped before any record (an unknown model) leaves a checkpoint the corrected command resumes', async () => {
    const { output, sent, run } = await setUp();
    const unknownModel = runPipeline<Item, Item>(
      OFFLINE_CONFIG,
      join(output, '..', 'in.jsonl'),
      async () => {
        throw new NoUsableKeyError('no key in the pool serves model gpt-nope', { code: 'MODEL_UNAVAILABLE' });
      },
      {
        output,
        handleSignals: false,
        resultOptions: { model: 'gpt-nope' },
        pool: { notify: false, watch: false },
      },
    );
    await expect(unknownModel).rejects.toMatchObject({ code: 'MODEL_UNAVAILABLE' });
    const { stats } = await run({ output, resultOptions: { model: 'gpt-4o-mini' } });
    expect(stats).toMatchObject({ done: 4, skipped: 0 });
    expect(sent).toHaveLength(4);
    const manifest = JSON.parse(await readFile(join(`${output}.keybatch`, 'manifest.json'), 'utf8'));
    expect(manifest.options).toMatchObject({ model: 'gpt-4o-mini' });
  });
});
