/**
 * The failed items of a run, from its checkpoint alone (read-only): `keybatch failures <output>`
 * and the final/retryable split of `keybatch status`.
 *
 * final:     a result with `error` (the API refused the request for good: 400/404/422); a rerun
 *            keeps it.
 * retryable: the latest record is a failure (5xx, timeouts, … after the client's retries); a rerun
 *            sends the item again.
 */

import { InputError, readRunStatus } from '../index.js';
import { finalErrorCode, readResults, scanRunDir } from '../internal.js';
import { EXIT } from './errors.js';
import { table } from './format.js';

export interface FailedItem {
  /** 0-based position in the input. */
  index: number;
  /** The item's id as in its output line (`id`, or `custom_id` in Batch format); else its position. */
  id: string | number;
  /** The error code, else the HTTP status, else the error's name. */
  code: string;
  status: number | null;
  message: string;
  /** `true`: refused for good (a rerun keeps it); `false`: a rerun retries it. */
  final: boolean;
}

type Json = Record<string, unknown>;
const asRecord = (value: unknown): Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : {};

function idOf(line: unknown, index: number): string | number {
  const row = asRecord(line);
  for (const field of ['id', 'custom_id'] as const) {
    const id = row[field];
    // A Batch line's `id` is its batch_req_ id: its `custom_id` is the item's.
    if (field === 'id' && 'custom_id' in row) continue;
    if (typeof id === 'string' || typeof id === 'number') return id;
  }
  return index;
}

/** The error of a final result: a row's `error`, or a Batch line's `error` and `response.status_code`. */
function finalItem(index: number, value: unknown): FailedItem {
  const row = asRecord(value);
  const error = asRecord(row['error']);
  const response = asRecord(row['response']);
  const status =
    typeof error['status'] === 'number'
      ? error['status']
      : typeof response['status_code'] === 'number'
        ? response['status_code']
        : null;
  return {
    index,
    id: idOf(value, index),
    code: finalErrorCode(value) ?? 'error',
    status,
    message: typeof error['message'] === 'string' ? error['message'] : '',
    final: true,
  };
}

/** Every failed item of the run whose output is `output`, in input order. */
export async function readFailures(output: string, checkpoint?: string): Promise<FailedItem[]> {
  // readRunStatus names a missing checkpoint in one line (INPUT_INVALID).
  const status = await readRunStatus(output, checkpoint === undefined ? {} : { checkpoint });
  const dir = status.checkpoint;
  const scan = await scanRunDir(dir);
  const finals = new Map<number, FailedItem>();
  await readResults(dir, (i, value) => {
    if (finalErrorCode(value) === undefined) finals.delete(i);
    else finals.set(i, finalItem(i, value));
  });
  const items: FailedItem[] = [...finals.values()];
  for (const [index, error] of scan.failed) {
    items.push({
      index,
      id: idOf((error as { output?: unknown }).output, index),
      code: error.code ?? (error.status === undefined ? error.name : String(error.status)),
      status: error.status ?? null,
      message: error.message,
      final: false,
    });
  }
  return items.sort((a, b) => a.index - b.index);
}

/** Failures by code, in order of count: `{ rate_limit_exceeded: 3, invalid_request_error: 1 }`. */
export function countByCode(items: readonly FailedItem[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[item.code] = (counts[item.code] ?? 0) + 1;
  return Object.fromEntries(Object.entries(counts).sort((a, b) => b[1] - a[1]));
}

const MESSAGE_WIDTH = 100;

export interface FailuresFlags {
  json?: boolean;
}

/** `keybatch failures <output> [--json]`: one line (or JSON object) per failed item, on stdout. */
export async function failuresCommand(output: string, flags: FailuresFlags = {}): Promise<number> {
  if (output === '-') throw new InputError('keybatch failures needs the output file of a run, not -');
  const items = await readFailures(output);
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(items, null, 2)}\n`);
    return EXIT.ok;
  }
  if (items.length === 0) {
    process.stdout.write('no failed items\n');
    return EXIT.ok;
  }
  const finals = items.filter((item) => item.final).length;
  const lines = table(
    ['id', 'code', 'kind', 'message'],
    items.map((item) => {
      const message = item.message.replace(/\s+/g, ' ');
      return [
        String(item.id),
        item.code,
        item.final ? 'final' : 'retryable',
        message.length > MESSAGE_WIDTH ? `${message.slice(0, MESSAGE_WIDTH - 1)}…` : message,
      ];
    }),
    '',
  );
  lines.push(
    `${items.length} failed: ${finals} final (kept by a rerun), ${items.length - finals} retryable (a rerun sends them again)`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
  return EXIT.ok;
}
