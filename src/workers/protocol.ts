/**
 * Messages between the main thread and worker threads. The only module both sides share:
 * everything crossing is plain data (errors as `SerializedError`, since structured clone drops
 * `code` and `status` from Error subclasses).
 */
import type { MessagePort } from 'node:worker_threads';
import type { EncodedResults } from '../checkpoint/record.js';
import type { SerializedError } from '../errors.js';
import type { Lease, LeaseRequest, LeaseResult } from '../keys/types.js';
import type { MemoEntry, MemoPassReport } from './answer-memo.js';

/** Client settings a worker thread builds its pool-aware client with. */
export interface ClientSettings {
  retry?: { maxAttempts?: number; baseDelayMs?: number; maxDelayMs?: number };
  timeoutMs?: number;
  defaultBaseURL?: string;
}

/** One chunk for a worker thread (piscina task). `port` is transferred and serves key leases. */
export interface ThreadTask {
  module: string;
  /** The items (empty when `lines` carries them). */
  chunk: unknown[];
  /** The items as JSON lines, UTF-8, joined by '\n' (file input; transferred, parsed by the thread). */
  lines?: ArrayBuffer;
  /** The items' input positions: the thread encodes the results as lane-file lines (`encodeResults`). */
  indices?: number[];
  chunkIndex: number;
  workerId: number;
  args: unknown;
  client: ClientSettings;
  port: MessagePort;
  /** The chunk's paid answers not used yet in this pass: the thread answers from them and reports back. */
  memo?: MemoEntry[];
}

export type ThreadReply = (
  | { ok: true; results: unknown[]; threadId: number }
  | { ok: true; encoded: EncodedResults; threadId: number }
  /** `final`: the error came from a request that can never succeed (the chunk is not retried). */
  | { ok: false; error: SerializedError; final?: true }
) & {
  /** With a task's `memo`: what the pass used of it and added to it. */
  memo?: MemoPassReport;
};

/** Worker -> main. */
export type BrokerRequest =
  | { type: 'acquire'; id: number; request: LeaseRequest }
  | { type: 'cancel'; id: number }
  | { type: 'release'; lease: Lease; result: LeaseResult };

/** Main -> worker. */
export type BrokerReply =
  | { type: 'lease'; id: number; lease: Lease }
  | { type: 'error'; id: number; error: SerializedError }
  | { type: 'abort' };
