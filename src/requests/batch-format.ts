/**
 * `format: 'batch'`: output lines in the OpenAI Batch API's own output format (the SDK's
 * `BatchRequestOutput`), one per input record, in input order:
 *
 *   answered:        { id, custom_id, response: { status_code: 200, request_id, body }, error: null }
 *   refused (4xx):   { id, custom_id, response: { status_code, request_id, body: { error } }, error: { code, message } }
 *   not answered:    { id, custom_id, response: null, error: { code, message } }
 *
 * `error` is also set for a refused request (the Batch API leaves it null there), so `keybatch
 * status` and `failures` count it as a final failure, as they do an `error` row.
 */
import { capErrorText } from '../keys/redact.js';
import type { PromptJob } from './records.js';

export interface BatchOutputLine {
  /** `batch_req_<position>`: stable over reruns. */
  id: string;
  /** The record's `custom_id` (or `id`, or position), as a string. */
  custom_id: string;
  response: { status_code: number; request_id: string | null; body: unknown } | null;
  error: { code: string | null; message: string } | null;
}

function head(job: PromptJob): Pick<BatchOutputLine, 'id' | 'custom_id'> {
  return { id: `batch_req_${job.index}`, custom_id: String(job.id) };
}

/** The line of an answered request. */
export function batchSuccess(job: PromptJob, body: unknown, requestId: string | null): BatchOutputLine {
  return { ...head(job), response: { status_code: 200, request_id: requestId, body }, error: null };
}

/** The line of a request the API refused for good (400/404/422): its answer, and `error`. */
export function batchRefused(
  job: PromptJob,
  answer: { status: number; requestId: string | null; error: unknown; code: string | null; message: string },
): BatchOutputLine {
  const message = capErrorText(answer.message);
  return {
    ...head(job),
    response: { status_code: answer.status, request_id: answer.requestId, body: { error: answer.error } },
    error: { code: answer.code ?? String(answer.status), message },
  };
}

/** The line of a request that got no final answer (a rerun retries it). */
export function batchFailure(
  job: PromptJob,
  error: {
    code?: string | null | undefined;
    status?: number | null | undefined;
    name?: string;
    message: string;
  },
): BatchOutputLine {
  const code =
    error.code ?? (typeof error.status === 'number' ? String(error.status) : (error.name ?? 'error'));
  return { ...head(job), response: null, error: { code, message: capErrorText(error.message) } };
}
