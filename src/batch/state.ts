/**
 * `batches.json` in the run directory: every shard of a Batch API run, with what exists of it on
 * the API (input file id, batch id, state, counts, output and error file ids). It is written to a
 * temporary name and renamed into place before and after every step, so a killed run resumes the
 * same batches and never uploads or creates again what is recorded. It holds no API key: a shard
 * names its organization, or (for a key without one) a short SHA-256 of the key.
 */
import { createHash } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError, KeybatchError } from '../errors.js';

export const BATCHES_FILE = 'batches.json';

/** Who may touch a shard's objects: the organization that created them, or that one key. */
export interface Affinity {
  /** The key's config `organization`. */
  organization?: string;
  /** Keys without an organization: the first 16 hex digits of the SHA-256 of the key. */
  keyHash?: string;
  /** The key's base URL (objects live on one server). */
  baseURL?: string;
}

/** Input positions as ascending `[first, last]` ranges (inclusive). */
export type Ranges = Array<[number, number]>;

export interface ShardRecord {
  /** `<group>-<attempt>-<n>`: stable over reruns. */
  id: string;
  /** 1 for a first submission; re-submissions of expired or transiently failed lines count up. */
  attempt: number;
  endpoint: string;
  indices: Ranges;
  affinity?: Affinity;
  fileId?: string;
  batchId?: string;
  /** The batch's last known `status` (validating, in_progress, …, completed, failed, expired, cancelled). */
  state?: string;
  counts?: { total: number; completed: number; failed: number };
  outputFileId?: string | null;
  errorFileId?: string | null;
  /** Batches of this shard that failed with `token_limit_exceeded` (the same file is submitted again). */
  tokenLimitRetries?: number;
  /**
   * Its batch failed `token_limit_exceeded` with no other batch of this run enqueued: its requests
   * alone pass the organization's enqueued token limit, so they go again in smaller shards.
   */
  tooLarge?: boolean;
  /**
   * The name its input file is uploaded under (random per upload, set before the upload): a rerun
   * without `fileId` finds that file by it instead of uploading (and leaving) a second one.
   */
  uploadName?: string;
  /** A batch is being created from `fileId` (set before the request): a rerun without `batchId` looks for it. */
  creating?: boolean;
  /** The output and error files were read and their lines applied. */
  downloaded?: boolean;
  /** Why the batch failed (its `errors`), as shown. */
  error?: string;
  updatedAt?: string;
}

/** One chunk of the run: its items, and the shards (first and re-submitted) that answer them. */
export interface GroupRecord {
  key: string;
  indices: Ranges;
  shards: ShardRecord[];
  /** The group's rows are in the lane file. */
  recorded?: boolean;
}

interface Limits {
  shardMaxRequests: number;
  shardMaxBytes: number;
}

export interface BatchesFile {
  version: 1;
  /** The shard limits the groups were cut with: a rerun must cut the same chunks to find them. */
  limits?: { shardMaxRequests: number; shardMaxBytes: number };
  groups: GroupRecord[];
}

export function toRanges(indices: readonly number[]): Ranges {
  const out: Ranges = [];
  for (const i of indices) {
    const last = out[out.length - 1];
    if (last && i === last[1] + 1) last[1] = i;
    else out.push([i, i]);
  }
  return out;
}

export function fromRanges(ranges: Ranges): number[] {
  const out: number[] = [];
  for (const [a, b] of ranges) for (let i = a; i <= b; i++) out.push(i);
  return out;
}

/** The group key of a chunk: its first index, size and ranges, so the same chunk finds its shards. */
export function groupKey(indices: readonly number[]): string {
  return JSON.stringify(toRanges(indices));
}

/** A chunk's group key from its rows' identities, in order (the same rows, wherever they stand). */
export function contentKey(keys: readonly string[]): string {
  const hash = createHash('sha256');
  for (const key of keys) hash.update(`${key}\n`);
  return `sha256:${hash.digest('hex')}`;
}

/** Reads and writes `batches.json`; writes go one after another, each temp + rename. */
export class BatchState {
  readonly path: string;
  #data: BatchesFile;
  #writing: Promise<void> = Promise.resolve();
  #seq = 0;

  private constructor(path: string, data: BatchesFile) {
    this.path = path;
    this.#data = data;
  }

  static async open(runDir: string): Promise<BatchState> {
    const path = join(runDir, BATCHES_FILE);
    let data: BatchesFile = { version: 1, groups: [] };
    try {
      const parsed = JSON.parse(await readFile(path, 'utf8')) as BatchesFile;
      if (parsed?.version !== 1 || !Array.isArray(parsed.groups)) throw new Error('not a batches file');
      data = parsed;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new KeybatchError(
          'CHECKPOINT_INVALID',
          `${path} cannot be read (${(error as Error).message}); it records batches already paid for, so it is not replaced: fix or move it`,
        );
      }
    }
    return new BatchState(path, data);
  }

  /**
   * Records the shard limits of a new file, or refuses other limits than those of its groups
   * (other chunks would not find their batches, and their records would be sent again).
   */
  /** Refuses other shard limits than those of the recorded groups (their chunks would not be found). */
  assertLimits(limits: Limits): void {
    const had = this.#data.limits;
    if (!had || this.#data.groups.length === 0) return;
    if (had.shardMaxRequests !== limits.shardMaxRequests || had.shardMaxBytes !== limits.shardMaxBytes) {
      throw new InputError(
        `${this.path} was made with shardMaxRequests ${had.shardMaxRequests} and shardMaxBytes ${had.shardMaxBytes}; resume with the same, or start over with resume: false (--fresh)`,
      );
    }
  }

  /** Records the shard limits (see assertLimits). */
  async checkLimits(limits: Limits): Promise<void> {
    this.assertLimits(limits);
    const had = this.#data.limits;
    if (
      !had ||
      had.shardMaxRequests !== limits.shardMaxRequests ||
      had.shardMaxBytes !== limits.shardMaxBytes
    ) {
      this.#data.limits = { ...limits };
      await this.save();
    }
  }

  get groups(): readonly GroupRecord[] {
    return this.#data.groups;
  }

  /**
   * The group of a chunk, made (and saved) if new: found by `key` (its rows' identities), else a
   * group recorded by positions (before rows were known by identity) for the same positions.
   */
  async group(indices: readonly number[], key = groupKey(indices)): Promise<GroupRecord> {
    const positional = groupKey(indices);
    let group =
      this.#data.groups.find((g) => g.key === key && !g.recorded) ??
      this.#data.groups.find((g) => g.key === positional && !g.recorded);
    if (!group) {
      group = { key, indices: toRanges(indices), shards: [] };
      this.#data.groups.push(group);
      await this.save();
    }
    return group;
  }

  /** Writes the whole file (temp + rename); resolves when this state is on disk. */
  save(): Promise<void> {
    const text = `${JSON.stringify(this.#data, null, 1)}\n`;
    const temp = `${this.path}.tmp-${process.pid}-${this.#seq++}`;
    const write = this.#writing.then(async () => {
      await writeFile(temp, text);
      await rename(temp, this.path);
    });
    this.#writing = write.catch(() => {});
    return write;
  }

  /** Every shard with a batch that is not over, for cancelling. */
  openShards(): ShardRecord[] {
    return this.#data.groups
      .filter((g) => !g.recorded)
      .flatMap((g) => g.shards)
      .filter((s) => s.batchId && !isTerminal(s.state));
  }
}

const TERMINAL = new Set(['completed', 'failed', 'expired', 'cancelled']);
export const isTerminal = (state: string | undefined): boolean => state !== undefined && TERMINAL.has(state);

/** Reads `batches.json` of a run directory for `keybatch status` (undefined when there is none). */
export async function readBatches(runDir: string): Promise<BatchesFile | undefined> {
  try {
    return JSON.parse(await readFile(join(runDir, BATCHES_FILE), 'utf8')) as BatchesFile;
  } catch {
    return undefined;
  }
}
