/**
 * What a distributed run keeps in Redis, and the plain data that travels through it. Everything
 * here is JSON: items, results, errors as `SerializedError` (never a key: workers have their own
 * config; results carry what the task returned, already scrubbed of keys where keybatch wrote them).
 *
 * - `<ns>:runs` (hash): run id -> RunDescriptor, for every run under way; workers read it to join.
 * - `<ns>:run:<id>:workers` (hash): worker id -> WorkerBeat, written only while the run is registered.
 * - BullMQ queue `run-<id>` under prefix `<ns>`: one job per chunk (id `<run id>-<first item>`),
 *   removed once its result is in the coordinator's checkpoint; the queue is obliterated at the end.
 */
import type { SerializedError } from '../errors.js';
import type { ClientSettings } from '../workers/protocol.js';
import type { TaskIdentity } from './task-identity.js';

export interface RunDescriptor {
  v: 1;
  runId: string;
  queue: string;
  task: TaskIdentity;
  args: unknown;
  client: ClientSettings;
  /** BullMQ worker settings every worker of this run uses. */
  lockDurationMs: number;
  stalledIntervalMs: number;
  maxStalled: number;
  coordinator: { host: string; pid: number; startedAt: number };
}

/** One chunk as a job: input positions, and the items (or their JSON lines joined by '\n'). */
export interface ChunkData {
  i: number[];
  c: number;
  /** Return the results as checkpoint lines (`lines`), ready for the coordinator to append. */
  enc?: true;
  items?: unknown[];
  lines?: string;
}

/** What a worker returns for a chunk (BullMQ stores it as the job's return value). */
export type ChunkReply =
  | { ok: true; i: number[]; results: unknown[]; w: string }
  /** With `enc`: the results as checkpoint lines, and the codes of those that are final failures. */
  | { ok: true; i: number[]; lines: string; refused: string[]; w: string }
  | { ok: false; i: number[]; error: SerializedError; final?: true; w: string };

/** A worker's heartbeat for one run. */
export interface WorkerBeat {
  id: string;
  host: string;
  pid: number;
  concurrency: number;
  /** Items of chunks running now. */
  inFlight: number;
  /** Items this worker finished for the run. */
  items: number;
  chunks: number;
  /** Items per second over the last few seconds. */
  rate: number;
  /** Epoch ms of this beat. */
  at: number;
  /** Why this worker does not take the run's chunks. */
  refused?: string;
}

export const registryKey = (ns: string) => `${ns}:runs`;
/** Pub/sub channel: a run was registered or unregistered (workers read the registry at once). */
export const runsChannel = (ns: string) => `${ns}:runs:changed`;
export const workersKey = (ns: string, runId: string) => `${ns}:run:${runId}:workers`;
export const queueName = (runId: string) => `run-${runId}`;
export const jobId = (runId: string, firstIndex: number) => `${runId}-${firstIndex}`;

/** Writes a heartbeat only while the run is registered (so a finished run's hash is never re-made). */
export const BEAT_SCRIPT = `if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
  return 1
end
return 0`;
