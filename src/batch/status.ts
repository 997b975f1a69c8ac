/** What `keybatch status` shows of a `--batch` run: each batch's id (not secret), state and counts. */
import { fromRanges, readBatches } from './state.js';

export interface BatchStatus {
  /** The batch id; none yet while its file is being uploaded. */
  id: string | null;
  shard: string;
  attempt: number;
  requests: number;
  state: string;
  completed: number;
  failed: number;
}

/** Every batch recorded in the run directory (undefined when the run did not use the Batch API). */
export async function readBatchStatus(runDir: string): Promise<BatchStatus[] | undefined> {
  const file = await readBatches(runDir);
  if (!file) return undefined;
  return file.groups.flatMap((group) =>
    group.shards.map((shard) => ({
      id: shard.batchId ?? null,
      shard: shard.id,
      attempt: shard.attempt,
      requests: fromRanges(shard.indices).length,
      state: shard.state ?? (shard.fileId ? 'uploaded' : 'planned'),
      completed: shard.counts?.completed ?? 0,
      failed: shard.counts?.failed ?? 0,
    })),
  );
}

/** `batches: N (…)` and one line per batch. */
export function batchLines(batches: readonly BatchStatus[]): string[] {
  const byState = new Map<string, number>();
  for (const b of batches) byState.set(b.state, (byState.get(b.state) ?? 0) + 1);
  const states = [...byState].map(([state, n]) => `${n} ${state}`).join(', ');
  return [
    `batches: ${batches.length}${states ? ` (${states})` : ''}`,
    ...batches.map(
      (b) =>
        `batch ${b.id ?? '(not created)'}: ${b.state}, ${b.completed}/${b.requests} completed, ${b.failed} failed (shard ${b.shard}, attempt ${b.attempt})`,
    ),
  ];
}
