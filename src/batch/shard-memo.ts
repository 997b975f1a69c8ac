/**
 * Each recorded shard run at most once per process, whichever chunks need its lines, its outcomes
 * given by row identity (`custom_id`). Rows are known by what they ask, so after the input was
 * reordered or edited a chunk's rows may sit in shards that another chunking of the input
 * submitted: those shards are polled (once) and their answers used, never submitted again while
 * they run or after they finished.
 */
import type OpenAI from 'openai';
import { readShardKeys } from './shard-keys.js';
import { runShard, type ShardEnv } from './shard-run.js';
import type { LineOutcome } from './shards.js';
import { type BatchState, fromRanges, type GroupRecord, type ShardRecord } from './state.js';

/** A shard's outcomes by row identity. */
export type KeyedResult = Map<string, LineOutcome>;

export class ShardMemo {
  readonly #runs = new Map<ShardRecord, Promise<KeyedResult>>();
  /** Row identity -> the earlier shards (of other groups) that hold it; built once, from the keys files. */
  #holders: Promise<Map<string, ShardRecord[]>> | undefined;

  constructor(private readonly runDir: string) {}

  /**
   * Runs `shard` to its end once; later callers share that run. `keyAt` names the row of a
   * position of the shard when it has no keys file (a shard recorded before they were kept).
   */
  run(
    shard: ShardRecord,
    client: OpenAI,
    env: Omit<ShardEnv, 'indexOf' | 'onUnknown'>,
    input: (keys: readonly string[] | undefined) => Buffer,
    keyAt: (index: number) => string | undefined,
  ): Promise<KeyedResult> {
    let run = this.#runs.get(shard);
    if (!run) {
      run = this.#run(shard, client, env, input, keyAt);
      this.#runs.set(shard, run);
    }
    return run;
  }

  async #run(
    shard: ShardRecord,
    client: OpenAI,
    env: Omit<ShardEnv, 'indexOf' | 'onUnknown'>,
    input: (keys: readonly string[] | undefined) => Buffer,
    keyAt: (index: number) => string | undefined,
  ): Promise<KeyedResult> {
    const keys = await readShardKeys(this.runDir, shard.id);
    const byKey: KeyedResult = new Map();
    const shared: ShardEnv = {
      ...env,
      // Every line that names its row by identity is kept by it; `i-<n>` lines come back by position.
      indexOf: () => undefined,
      onUnknown: (customId, outcome) => byKey.set(customId, outcome),
    };
    const byPosition = await runShard(client, shared, shard, () => input(keys));
    const positions = fromRanges(shard.indices);
    for (const [index, outcome] of byPosition) {
      const at = positions.indexOf(index);
      const key = keys && at >= 0 ? keys[at] : keyAt(index);
      if (key !== undefined && !byKey.has(key)) byKey.set(key, outcome);
    }
    return byKey;
  }

  /** The submitted shards of groups other than `own` that hold row `key`, in recorded order. */
  async holding(state: BatchState, own: GroupRecord, key: string): Promise<ShardRecord[]> {
    this.#holders ??= this.#index(state);
    const shards = (await this.#holders).get(key) ?? [];
    return shards.filter((shard) => !own.shards.includes(shard));
  }

  /** Row identity -> shard, over the unrecorded groups' submitted shards as the run found them. */
  async #index(state: BatchState): Promise<Map<string, ShardRecord[]>> {
    const holders = new Map<string, ShardRecord[]>();
    for (const group of state.groups) {
      if (group.recorded) continue;
      for (const shard of group.shards) {
        if (shard.batchId === undefined && shard.creating !== true) continue;
        for (const key of (await readShardKeys(this.runDir, shard.id)) ?? []) {
          const list = holders.get(key) ?? [];
          list.push(shard);
          holders.set(key, list);
        }
      }
    }
    return holders;
  }
}
