/**
 * The row identities of each shard, in the order of its lines: `<run dir>/batch-keys/<shard>.txt`,
 * one identity a line, written before the shard's input file is uploaded. Rows are known by what
 * they ask (their `custom_id`), not by their position, so a rerun over a reordered or edited input
 * finds the batch that already holds a row, instead of submitting it again. Kept outside
 * `batches.json`, which is rewritten at every step: a shard may hold 50,000 identities.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const SHARD_KEYS_DIR = 'batch-keys';

const pathOf = (runDir: string, shardId: string) => join(runDir, SHARD_KEYS_DIR, `${shardId}.txt`);

/** Writes the identities of a new shard's lines (before anything of it exists on the API). */
export async function writeShardKeys(
  runDir: string,
  shardId: string,
  keys: readonly string[],
): Promise<void> {
  await mkdir(join(runDir, SHARD_KEYS_DIR), { recursive: true });
  await writeFile(pathOf(runDir, shardId), `${keys.join('\n')}\n`);
}

/** The identities of a shard's lines, in order; undefined for a shard recorded before they were kept. */
export async function readShardKeys(runDir: string, shardId: string): Promise<string[] | undefined> {
  const text = await readFile(pathOf(runDir, shardId), 'utf8').catch(() => undefined);
  return text === undefined ? undefined : text.split('\n').filter((line) => line !== '');
}
