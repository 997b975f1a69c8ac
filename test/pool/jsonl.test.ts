import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readJsonlBlocks, readJsonlByteBlocks } from '../../src/pool/jsonl.js';
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
