/**
 * `/v1/batches`: batches of an organization's uploaded input files, run on the simulator's time
 * scale (see `batch-state.ts`). Every line is answered when the batch is created (triggers and
 * all); the output and error files appear when the batch is over, their lines in processing
 * order (shuffled against the input). Another organization's batch is not found (404).
 */
import { apiError, type ErrorAnswer, fileNotFound, missingParameter } from './api-errors.js';
import { type BatchError, ExpireMemory, readBatchLines } from './batch-lines.js';
import type { ResolvedBatchOptions } from './batch-options.js';
import { type BatchRecord, type BatchState, batchStateAt, type LineOutcome } from './batch-state.js';
import { createPrng } from './faults.js';
import { type FileStore, listLimit, page } from './files.js';

export const BATCH_ENDPOINTS = [
  '/v1/chat/completions',
  '/v1/completions',
  '/v1/embeddings',
  '/v1/responses',
] as const;

/** How a line is answered: status and body, and its token counts. */
export interface ServedLine {
  status: number;
  body: unknown;
  tokens: number;
  inputTokens: number;
  outputTokens: number;
  /** A `hang` trigger: the line never completes. */
  hangs: boolean;
}

export interface BatchContext {
  organization: string;
  now: number;
  nextId: () => string;
  /** Answers one line's body for the batch's endpoint. */
  serve: (endpoint: string, body: Record<string, unknown>) => ServedLine;
  /** The fingerprint text of a line (for `[[sim:expire]]`). */
  text: (endpoint: string, body: Record<string, unknown>) => string;
}

interface StoredBatch extends BatchRecord {
  readonly organization: string;
  readonly endpoint: string;
  readonly inputFileId: string;
  readonly completionWindow: string;
  readonly metadata: Record<string, string> | null;
  readonly model: string | null;
  readonly tokens: number;
  files: { output: string | null; error: string | null } | null;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const seconds = (ms: number | undefined) => (ms === undefined ? null : Math.floor(ms / 1000));

function notFound(id: string): ErrorAnswer {
  return apiError(404, `No batch found with id '${id}'.`, 'invalid_request_error');
}

function invalidValue(param: string, value: unknown, supported: readonly string[]): ErrorAnswer {
  return apiError(
    400,
    `Invalid value for '${param}': ${JSON.stringify(value)}. Supported values are: ${supported.map((s) => `'${s}'`).join(', ')}.`,
    'invalid_request_error',
    param,
    'invalid_value',
  );
}

function checkMetadata(metadata: unknown): ErrorAnswer | null {
  if (metadata === undefined || metadata === null) return null;
  const bad = (message: string) =>
    apiError(400, message, 'invalid_request_error', 'metadata', 'invalid_value');
  if (!isRecord(metadata)) return bad("Invalid type for 'metadata': expected an object.");
  const entries = Object.entries(metadata);
  if (entries.length > 16) return bad("Invalid 'metadata': too many properties. Expected at most 16.");
  for (const [key, value] of entries) {
    if (key.length > 64) return bad(`Invalid 'metadata': key '${key}' is longer than 64 characters.`);
    if (typeof value !== 'string') return bad(`Invalid type for 'metadata.${key}': expected a string.`);
    if (value.length > 512) return bad(`Invalid 'metadata.${key}': longer than 512 characters.`);
  }
  return null;
}

function outputLine(line: LineOutcome) {
  return {
    id: line.id,
    custom_id: line.customId,
    response: { status_code: line.status, request_id: line.requestId, body: line.body },
    error: null,
  };
}

function expiredLine(line: LineOutcome) {
  return {
    id: line.id,
    custom_id: line.customId,
    response: null,
    error: {
      code: 'batch_expired',
      message: 'This request could not be executed before the completion window expired.',
    },
  };
}

const jsonl = (rows: unknown[]) => Buffer.from(rows.map((row) => `${JSON.stringify(row)}\n`).join(''));

export class BatchStore {
  readonly #batches = new Map<string, StoredBatch>();
  readonly #options: ResolvedBatchOptions;
  readonly #files: FileStore;
  readonly #random: () => number;
  readonly #expiries = new ExpireMemory();

  readonly #onCancel: () => void;

  constructor(options: ResolvedBatchOptions, files: FileStore, onCancel: () => void = () => {}) {
    this.#options = options;
    this.#files = files;
    this.#onCancel = onCancel;
    this.#random = createPrng(options.seed);
  }

  create(body: unknown, ctx: BatchContext): Record<string, unknown> | ErrorAnswer {
    if (!isRecord(body))
      return apiError(400, 'The request body must be a JSON object.', 'invalid_request_error');
    for (const param of ['input_file_id', 'endpoint', 'completion_window']) {
      if (body[param] === undefined || body[param] === null) return missingParameter(param);
    }
    const { endpoint, completion_window: window, input_file_id: inputFileId, metadata } = body;
    if (typeof endpoint !== 'string' || !(BATCH_ENDPOINTS as readonly string[]).includes(endpoint)) {
      return invalidValue('endpoint', endpoint, BATCH_ENDPOINTS);
    }
    if (window !== '24h') return invalidValue('completion_window', window, ['24h']);
    const badMetadata = checkMetadata(metadata);
    if (badMetadata) return badMetadata;
    if (typeof inputFileId !== 'string') return fileNotFound(String(inputFileId));
    const input = this.#files.get(ctx.organization, inputFileId);
    if (!input)
      return apiError(404, `No such File object: ${inputFileId}`, 'invalid_request_error', 'input_file_id');
    if (input.object.purpose !== 'batch') {
      return apiError(
        400,
        `The input file ${inputFileId} has purpose '${input.object.purpose}'; a batch needs purpose 'batch'.`,
        'invalid_request_error',
        'input_file_id',
        'invalid_value',
      );
    }
    const read = readBatchLines(input.content, endpoint, this.#options.maxRequests);
    let errors: BatchError[] | null = read.ok ? null : read.errors;
    const lines: LineOutcome[] = [];
    const model = read.ok ? read.model : null;
    if (read.ok) {
      const expireFrom = read.lines.length - this.#options.expireLines;
      for (const [index, line] of read.lines.entries()) {
        const served = ctx.serve(endpoint, line.body);
        const expires =
          served.hangs || index >= expireFrom || this.#expiries.expires(ctx.text(endpoint, line.body));
        lines.push({
          customId: line.customId,
          id: `batch_req_${ctx.nextId()}`,
          requestId: `req_${ctx.nextId()}`,
          status: served.status,
          body: served.body,
          tokens: served.tokens,
          inputTokens: served.inputTokens,
          outputTokens: served.outputTokens,
          expires,
        });
      }
      this.#shuffle(lines);
    }
    const tokens = lines.reduce((sum, line) => sum + line.tokens, 0);
    if (!errors && model !== null) errors = this.#tokenCap(ctx.organization, model, tokens, ctx.now);
    const { dayMs, validateMs, processMs, finalizeMs } = this.#options;
    const batch: StoredBatch = {
      id: `batch_${ctx.nextId()}`,
      createdMs: ctx.now,
      timing: { dayMs, validateMs, processMs, finalizeMs },
      errors,
      lines,
      cancelAtMs: null,
      organization: ctx.organization,
      endpoint,
      inputFileId,
      completionWindow: window,
      metadata: isRecord(metadata) ? (metadata as Record<string, string>) : null,
      model,
      tokens,
      files: null,
    };
    this.#batches.set(batch.id, batch);
    return this.#view(batch, ctx.now, ctx.nextId);
  }

  get(organization: string, id: string, now: number, nextId: () => string) {
    const batch = this.#find(organization, id);
    return batch ? this.#view(batch, now, nextId) : notFound(id);
  }

  cancel(organization: string, id: string, now: number, nextId: () => string) {
    const batch = this.#find(organization, id);
    if (!batch) return notFound(id);
    const { status } = batchStateAt(batch, now);
    if (status === 'cancelling') return this.#view(batch, now, nextId);
    if (status !== 'validating' && status !== 'in_progress' && status !== 'finalizing') {
      return apiError(400, `Cannot cancel a batch with status '${status}'.`, 'invalid_request_error');
    }
    batch.cancelAtMs = now;
    this.#onCancel();
    return this.#view(batch, now, nextId);
  }

  list(organization: string, query: URLSearchParams, now: number, nextId: () => string) {
    const limit = listLimit(query, 20, 100);
    if (typeof limit !== 'number') return limit;
    const mine = [...this.#batches.values()].filter((b) => b.organization === organization).reverse();
    const listed = page(mine, query.get('after'), limit);
    return { ...listed, data: listed.data.map((batch) => this.#view(batch, now, nextId)) };
  }

  #find(organization: string, id: string): StoredBatch | undefined {
    const batch = this.#batches.get(id);
    return batch && batch.organization === organization ? batch : undefined;
  }

  #shuffle(lines: LineOutcome[]): void {
    for (let i = lines.length - 1; i > 0; i -= 1) {
      const j = Math.floor(this.#random() * (i + 1));
      [lines[i], lines[j]] = [lines[j] as LineOutcome, lines[i] as LineOutcome];
    }
  }

  /** `token_limit_exceeded` when the organization's open batches of `model` and this one exceed the cap. */
  #tokenCap(organization: string, model: string, tokens: number, now: number): BatchError[] | null {
    const limits = this.#options.enqueuedTokenLimit;
    const limit = limits.get(model) ?? limits.get('*');
    if (limit === undefined) return null;
    let enqueued = 0;
    for (const batch of this.#batches.values()) {
      if (batch.organization !== organization || batch.model !== model || batch.errors) continue;
      if (!batchStateAt(batch, now).final) enqueued += batch.tokens;
    }
    if (enqueued + tokens <= limit) return null;
    return [
      {
        code: 'token_limit_exceeded',
        line: null,
        message: `Enqueued token limit reached for ${model} in organization ${organization}. Limit: ${limit.toLocaleString('en-US')} enqueued tokens. Please try again once some in_progress batches have been completed.`,
        param: null,
      },
    ];
  }

  /** The output and error files, written once the batch is over. */
  #filesOf(batch: StoredBatch, state: BatchState, now: number, nextId: () => string) {
    if (batch.files || !state.final || state.status === 'failed') return batch.files;
    const ok = state.done.filter((line) => line.status >= 200 && line.status < 300);
    const failed = state.done.filter((line) => !(line.status >= 200 && line.status < 300));
    const errorRows = [...failed.map(outputLine), ...state.expired.map(expiredLine)];
    const write = (kind: string, rows: unknown[]) =>
      rows.length === 0
        ? null
        : this.#files.put(
            batch.organization,
            `file-${nextId()}`,
            `${batch.id}_${kind}.jsonl`,
            `batch_${kind}`,
            jsonl(rows),
            now,
          ).id;
    batch.files = { output: write('output', ok.map(outputLine)), error: write('error', errorRows) };
    return batch.files;
  }

  #view(batch: StoredBatch, now: number, nextId: () => string): Record<string, unknown> {
    const state = batchStateAt(batch, now);
    const files = this.#filesOf(batch, state, now, nextId);
    const ok = state.done.filter((line) => line.status >= 200 && line.status < 300);
    const validating =
      state.status === 'validating' ||
      (state.status === 'cancelled' && state.times.in_progress === undefined);
    const input = ok.reduce((sum, line) => sum + line.inputTokens, 0);
    const output = ok.reduce((sum, line) => sum + line.outputTokens, 0);
    const { times } = state;
    return {
      id: batch.id,
      object: 'batch',
      endpoint: batch.endpoint,
      model: batch.model,
      errors: batch.errors && state.status === 'failed' ? { object: 'list', data: batch.errors } : null,
      input_file_id: batch.inputFileId,
      completion_window: batch.completionWindow,
      status: state.status,
      output_file_id: files?.output ?? null,
      error_file_id: files?.error ?? null,
      created_at: seconds(batch.createdMs),
      in_progress_at: seconds(times.in_progress),
      expires_at: seconds(batch.createdMs + batch.timing.dayMs),
      finalizing_at: seconds(times.finalizing),
      completed_at: seconds(times.completed),
      failed_at: seconds(times.failed),
      expired_at: seconds(times.expired),
      cancelling_at: seconds(times.cancelling),
      cancelled_at: seconds(times.cancelled),
      request_counts: {
        total: validating || state.status === 'failed' ? 0 : batch.lines.length,
        completed: ok.length,
        failed: state.done.length - ok.length + state.expired.length,
      },
      usage: {
        input_tokens: input,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: output,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: input + output,
      },
      metadata: batch.metadata,
    };
  }
}
