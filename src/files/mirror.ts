/**
 * `writeTo`: after the output is written, each answered record's answer goes to
 * `<writeTo>/<path of its first file>` (the text of `response`; other output as JSON). Rows with
 * `error` write nothing. A path that would leave the folder, or land on a file the run reads
 * (`own`: input, records' files, config, output, run directory), is refused with one warning line.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Logger } from '../logger.js';
import type { FileItem } from './identity.js';
import { type OwnFile, OwnFiles } from './own-files.js';
import { AnswerWriter } from './write-to.js';

export interface MirrorResult {
  /** Answers written. */
  written: number;
  /** Paths refused, with why. */
  refused: Array<{ path: string; why: string }>;
}

/** The text of a row's answer, or null for an error row. */
export function answerText(row: Record<string, unknown>): string | null {
  if (row['error'] !== undefined) return null;
  const response = row['response'];
  if (typeof response === 'string') return response;
  const other = response ?? row['tool_calls'] ?? row['output'] ?? row['refusal'] ?? null;
  return typeof other === 'string' ? other : JSON.stringify(other, null, 2);
}

/** Writes the answers of `output`'s rows whose record names files (see the file comment). */
export async function writeAnswers(
  output: string,
  items: readonly FileItem[],
  writeTo: string,
  logger: Logger,
  own: readonly OwnFile[] = [],
): Promise<MirrorResult> {
  const firstFile = new Map(items.map((item) => [item.index, item.files[0]]));
  const writer = new AnswerWriter(writeTo, OwnFiles.of(own));
  const result: MirrorResult = { written: 0, refused: [] };
  const lines = createInterface({ input: createReadStream(output), crlfDelay: Number.POSITIVE_INFINITY });
  let index = -1;
  for await (const line of lines) {
    index += 1;
    const path = firstFile.get(index);
    if (path === undefined || line === '') continue;
    const text = answerText(JSON.parse(line) as Record<string, unknown>);
    if (text === null) continue;
    const why = await writer.write(path, text);
    if (why === null) result.written += 1;
    else {
      result.refused.push({ path, why });
      logger.warn(`--write-to: ${path} not written: ${why}`);
    }
  }
  return result;
}
