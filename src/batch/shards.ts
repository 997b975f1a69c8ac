/**
 * Pure parts of the Batch backend: cutting a chunk's jobs into shards (one endpoint and model
 * each, at most `maxRequests` lines and `maxBytes` bytes), the input file's lines, and what a
 * line of an output or error file means for its item.
 */
import type { Endpoint } from '../requests/endpoint.js';
import { BATCH_URLS } from '../requests/records.js';

/** The Batch API's limits of one input file. */
export const MAX_SHARD_REQUESTS = 50_000;
export const MAX_SHARD_BYTES = 200 * 1024 * 1024;

export const ENDPOINT_URLS: Readonly<Record<Endpoint, string>> = Object.freeze(
  Object.fromEntries(Object.entries(BATCH_URLS).map(([url, endpoint]) => [endpoint, url])) as Record<
    Endpoint,
    string
  >,
);

/** One request of a shard: its item's input position, endpoint and request body. */
export interface ShardItem {
  index: number;
  /** The row identity: the line's `custom_id` (64 hex characters); without it, `i-<index>`. */
  key?: string | undefined;
  endpoint: Endpoint;
  body: Record<string, unknown>;
}

export interface PlannedShard {
  endpoint: Endpoint;
  indices: number[];
  /** The input file: one line per request, each ending in `\n`. */
  lines: string[];
  bytes: number;
}

/** The `custom_id` of an item without an identity: its input position (the record's own id stays in the row). */
export const customIdOf = (index: number): string => `i-${index}`;

export function indexOfCustomId(customId: unknown): number | undefined {
  if (typeof customId !== 'string' || !customId.startsWith('i-')) return undefined;
  const n = Number(customId.slice(2));
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

export function shardLine(item: ShardItem): string {
  const url = ENDPOINT_URLS[item.endpoint];
  const customId = item.key ?? customIdOf(item.index);
  return `${JSON.stringify({ custom_id: customId, method: 'POST', url, body: item.body })}\n`;
}

/**
 * Cuts items into shards: items of one endpoint and model together (in input order), a new shard
 * whenever the next line would pass `maxRequests` or `maxBytes`. A single line above `maxBytes`
 * gets a shard of its own (the API then refuses it, naming the line).
 */
export function planShards(
  items: readonly ShardItem[],
  maxRequests: number,
  maxBytes: number,
): PlannedShard[] {
  const open = new Map<string, PlannedShard>();
  const done: PlannedShard[] = [];
  for (const item of items) {
    const model = typeof item.body['model'] === 'string' ? item.body['model'] : '';
    const key = `${item.endpoint}\n${model}`;
    const line = shardLine(item);
    const size = Buffer.byteLength(line);
    let shard = open.get(key);
    if (shard && (shard.indices.length >= maxRequests || shard.bytes + size > maxBytes)) {
      done.push(shard);
      shard = undefined;
    }
    if (!shard) {
      shard = { endpoint: item.endpoint, indices: [], lines: [], bytes: 0 };
      open.set(key, shard);
    }
    shard.indices.push(item.index);
    shard.lines.push(line);
    shard.bytes += size;
  }
  done.push(...open.values());
  return done.sort((a, b) => (a.indices[0] ?? 0) - (b.indices[0] ?? 0));
}

/** What one output/error line says about its item. */
export type LineOutcome =
  | { kind: 'answer'; body: unknown; requestId: string | null }
  /** A final answer (4xx but 408/409/429): the item gets an error row, as online. */
  | {
      kind: 'final';
      status: number;
      code: string | null;
      message: string;
      error: unknown;
      requestId: string | null;
    }
  /** Expired, 5xx, 408/409/429, or no answer: sent again in a new shard (bounded attempts). */
  | { kind: 'retry'; status: number | null; code: string | null; message: string };

const RETRY_STATUSES = new Set([408, 409, 429]);

const asRecord = (value: unknown): Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};

/** Reads one line of an output or error file. */
export function lineOutcome(line: Record<string, unknown>): LineOutcome {
  const response = asRecord(line['response']);
  const lineError = asRecord(line['error']);
  const status = typeof response['status_code'] === 'number' ? response['status_code'] : null;
  const requestId = typeof response['request_id'] === 'string' ? response['request_id'] : null;
  if (status !== null && status >= 200 && status < 300) {
    return { kind: 'answer', body: response['body'], requestId };
  }
  const inner = asRecord(asRecord(response['body'])['error']);
  const code =
    typeof inner['code'] === 'string'
      ? inner['code']
      : typeof lineError['code'] === 'string'
        ? lineError['code']
        : null;
  const message =
    typeof inner['message'] === 'string'
      ? inner['message']
      : typeof lineError['message'] === 'string'
        ? lineError['message']
        : `status ${status ?? 'none'}`;
  if (status !== null && status >= 400 && status < 500 && !RETRY_STATUSES.has(status)) {
    return {
      kind: 'final',
      status,
      code,
      message,
      error: response['body'] ? asRecord(response['body'])['error'] : null,
      requestId,
    };
  }
  return { kind: 'retry', status, code, message };
}

/**
 * The lines a batch refused at validation name (1-based lines of its file, `indices` the shard's
 * input positions in file order): each a final 400 naming its input record and the file's line.
 */
export function validationOutcomes(
  errors: ReadonlyArray<{
    code?: string | undefined;
    line?: number | null | undefined;
    message?: string | undefined;
  }>,
  indices: readonly number[],
  batchId: string,
): Map<number, LineOutcome> {
  const out = new Map<number, LineOutcome>();
  for (const e of errors) {
    const index = typeof e.line === 'number' ? indices[e.line - 1] : undefined;
    if (index === undefined) continue;
    const message = `input record ${index + 1} (line ${e.line} of batch ${batchId}'s file): ${e.message ?? e.code}`;
    out.set(index, { kind: 'final', status: 400, code: e.code ?? null, message, error: e, requestId: null });
  }
  return out;
}

/** Capped exponential backoff of polls: `base`, 1.5x per poll without a change, at most 8x `base`. */
export function pollDelay(base: number, unchangedPolls: number): number {
  return Math.min(base * 1.5 ** unchangedPolls, base * 8);
}
