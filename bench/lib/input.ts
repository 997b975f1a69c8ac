/** Generated .jsonl inputs: `{"id":i,"text":"…"}` lines of varied length, deterministic. */

import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';

const WORDS = [
  'alpha',
  'beta',
  'gamma',
  'delta',
  'batch',
  'key',
  'pool',
  'token',
  'limit',
  'résumé',
  'naïve',
  '数据',
];

/** Writes `n` items to `path` (about 80 bytes each). */
export async function writeItems(path: string, n: number): Promise<void> {
  const out = createWriteStream(path);
  let seed = 12345;
  const random = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  let block = '';
  for (let i = 0; i < n; i++) {
    const words: string[] = [];
    const count = 4 + Math.floor(random() * 12);
    for (let w = 0; w < count; w++) words.push(WORDS[Math.floor(random() * WORDS.length)]!);
    block += `${JSON.stringify({ id: i, text: words.join(' ') })}\n`;
    if (block.length > 1 << 20) {
      if (!out.write(block)) await once(out, 'drain');
      block = '';
    }
  }
  out.end(block);
  await once(out, 'finish');
}

/** Lines in a file (newline count), streamed. */
export async function countLines(path: string): Promise<number> {
  let lines = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    const buf = chunk as Buffer;
    for (let at = buf.indexOf(10); at !== -1; at = buf.indexOf(10, at + 1)) lines++;
  }
  return lines;
}
