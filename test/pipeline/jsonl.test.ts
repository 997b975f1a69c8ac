import { truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { countJsonl, readJsonl, readJsonlBlocks, readJsonlByteBlocks } from '../../src/pipeline/jsonl.js';
import { useTempDir } from '../helpers.js';

const tempDir = useTempDir();

async function textLines(path: string, blockBytes: number) {
  const out: Array<[number, string]> = [];
  for await (const { lines, texts } of readJsonlBlocks(path, 'utf8', blockBytes)) {
    for (let k = 0; k < texts.length; k++) out.push([lines[k]!, texts[k]!]);
  }
  return out;
}

async function byteLines(path: string, blockBytes: number) {
  const out: Array<[number, string]> = [];
  for await (const { buf, lines, starts, ends } of readJsonlByteBlocks(path, blockBytes)) {
    for (let k = 0; k < lines.length; k++) out.push([lines[k]!, buf.toString('utf8', starts[k], ends[k])]);
  }
  return out;
}

/** Lines as found in real files: JSON (multi-byte text included), blank, whitespace-only, CRLF ends. */
const line = fc.oneof(
  fc.record({ id: fc.nat(), text: fc.string({ unit: 'grapheme' }) }).map((value) => JSON.stringify(value)),
  fc.constantFrom('', ' ', '\t', '\u00a0', '\u3000 ', '  {"a":"数据"}', '"résumé"', '[1,2]'),
);

describe('reading .jsonl as bytes for worker threads', () => {
  it('gives the same lines and line numbers as the text reader, for any block size (property)', async () => {
    const dir = await tempDir();
    const path = join(dir, 'input.jsonl');
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(line, fc.boolean()), { maxLength: 40 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 64 }),
        async (rows, trailingNewline, blockBytes) => {
          const body = rows.map(([text, crlf]) => text + (crlf ? '\r\n' : '\n')).join('');
          await writeFile(path, trailingNewline ? body : body.replace(/\r?\n$/, ''));
          const expected = await textLines(path, blockBytes);
          expect(await byteLines(path, blockBytes)).toEqual(expected);
          expect(await byteLines(path, 1 << 20)).toEqual(expected);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('a UTF-8 byte order mark and lines that are not JSON', () => {
  it('skips a BOM at the start of the file in every reader, for any block size', async () => {
    const dir = await tempDir();
    const path = join(dir, 'bom.jsonl');
    await writeFile(path, '\ufeff{"prompt":"é one"}\n{"prompt":"two"}\n');
    const expected: Array<[number, string]> = [
      [1, '{"prompt":"é one"}'],
      [2, '{"prompt":"two"}'],
    ];
    for (const blockBytes of [1, 2, 3, 4, 7, 1 << 20]) {
      expect(await textLines(path, blockBytes)).toEqual(expected);
      expect(await byteLines(path, blockBytes)).toEqual(expected);
    }
    expect(await countJsonl(path)).toBe(2);
    const values = [];
    for await (const { value } of readJsonl(path)) values.push(value);
    expect(values).toEqual([{ prompt: 'é one' }, { prompt: 'two' }]);
  });

  it('keeps a BOM anywhere but the start (it is then not JSON)', async () => {
    const dir = await tempDir();
    const path = join(dir, 'late-bom.jsonl');
    await writeFile(path, '{"prompt":"one"}\n\ufeff{"prompt":"two"}\n');
    await expect(countJsonl(path)).rejects.toThrow(`${path}:2: not valid JSON`);
  });

  it('tells a plain-text line what a record looks like, naming file and line', async () => {
    const dir = await tempDir();
    const path = join(dir, 'text.jsonl');
    await writeFile(path, '{"prompt":"one"}\n\nWhat is the capital of France?\n');
    const expected = `${path}:3: not JSON; a record looks like {"prompt": "..."} or {"messages": [...]}: What is the capital of France?`;
    await expect(countJsonl(path)).rejects.toThrow(expected);
    await expect(
      (async () => {
        for await (const _ of readJsonl(path)) {
          // read through
        }
      })(),
    ).rejects.toThrow(expected);
  });
});

describe('input no API could take', () => {
  it('a line longer than 128 MiB is one InputError naming file and line, read no further (a sparse 600 MB line)', async () => {
    const dir = await tempDir();
    const path = join(dir, 'huge.jsonl');
    await writeFile(path, '{"prompt":"one"}\n');
    // A line of NULs with no newline: sparse, so it costs no disk; past V8's longest string (512 Mi).
    await truncate(path, 600 * 2 ** 20);
    const said = `${path}:2: a line longer than 128 MiB`;
    await expect(countJsonl(path)).rejects.toThrow(said);
    const readAll = async (lines: AsyncIterable<unknown>) => {
      for await (const _ of lines) {
        // read through
      }
    };
    await expect(readAll(readJsonl(path))).rejects.toThrow(said);
    await expect(readAll(readJsonlByteBlocks(path))).rejects.toThrow(said);
  }, 60_000);

  it('JSON nested past 1,000 levels is one InputError naming file and line', async () => {
    const dir = await tempDir();
    const path = join(dir, 'deep.jsonl');
    await writeFile(path, `{"prompt":"one"}\n{"prompt":${'['.repeat(5000)}${']'.repeat(5000)}}\n`);
    await expect(countJsonl(path)).rejects.toThrow(`${path}:2: JSON nested more than 1000 levels deep`);
  });
});
