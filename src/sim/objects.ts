/**
 * The answers of `/v1/files` and `/v1/batches` for an authenticated key, scoped to its
 * organization, and what each request adds to the object stats.
 */
import type { ErrorAnswer } from './api-errors.js';
import type { ResolvedBatchOptions } from './batch-options.js';
import { type BatchContext, BatchStore } from './batches.js';
import { FileStore, multipartBoundary, parseMultipart } from './files.js';
import type { ObjectRoute } from './routes.js';
import type { StatsRecorder } from './stats.js';

export type ObjectAnswer =
  | ErrorAnswer
  | { status: number; body: unknown; headers?: Record<string, string> }
  | { status: 200; bytes: Buffer; headers: Record<string, string> };

export interface ObjectRequest {
  route: ObjectRoute;
  organization: string;
  keyLabel: string;
  contentType: string | undefined;
  body: Buffer;
  query: URLSearchParams;
  now: number;
}

function isError(value: unknown): value is ErrorAnswer {
  return (
    typeof value === 'object' && value !== null && 'status' in value && 'body' in value && 'headers' in value
  );
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

export class ObjectStore {
  readonly files = new FileStore();
  readonly batches: BatchStore;
  readonly #options: ResolvedBatchOptions;
  readonly #stats: StatsRecorder;

  constructor(options: ResolvedBatchOptions, stats: StatsRecorder) {
    this.#options = options;
    this.#stats = stats;
    this.batches = new BatchStore(options, this.files, () => stats.created('batchesCancelled'));
  }

  answer(req: ObjectRequest, ctx: Omit<BatchContext, 'organization' | 'now'>): ObjectAnswer {
    const { route, organization, now } = req;
    const ids = 'id' in route ? [route.id] : [];
    const ok = (value: unknown): ObjectAnswer => (isError(value) ? value : { status: 200, body: value });
    let result: ObjectAnswer;
    switch (route.kind) {
      case 'files.create': {
        const boundary = multipartBoundary(req.contentType);
        const upload = boundary ? parseMultipart(req.body, boundary) : null;
        const file = this.files.upload(organization, upload, ctx.nextId(), this.#options.maxFileBytes, now);
        if (!isError(file)) {
          this.#stats.created('filesCreated');
          ids.push(file.id);
        }
        result = ok(file);
        break;
      }
      case 'files.list':
        result = ok(this.files.list(organization, req.query));
        break;
      case 'files.get':
        result = ok(this.files.find(organization, route.id));
        break;
      case 'files.delete':
        result = ok(this.files.delete(organization, route.id));
        break;
      case 'files.content': {
        const file = this.files.get(organization, route.id);
        result = file
          ? { status: 200, bytes: file.content, headers: { 'content-type': 'application/octet-stream' } }
          : ok(this.files.find(organization, route.id));
        break;
      }
      case 'batches.create': {
        const body = parseJson(req.body);
        if (typeof body === 'object' && body !== null && 'input_file_id' in body) {
          ids.push(String((body as { input_file_id: unknown }).input_file_id));
        }
        const batch = this.batches.create(body, { ...ctx, organization, now });
        if (!isError(batch)) {
          this.#stats.created('batchesCreated');
          ids.push(String(batch['id']));
        }
        result = ok(batch);
        break;
      }
      case 'batches.list':
        result = ok(this.batches.list(organization, req.query, now, ctx.nextId));
        break;
      case 'batches.get':
        result = ok(this.batches.get(organization, route.id, now, ctx.nextId));
        break;
      case 'batches.cancel': {
        result = ok(this.batches.cancel(organization, route.id, now, ctx.nextId));
        break;
      }
    }
    this.#stats.objectRequest(route.kind, req.keyLabel, ids);
    return result;
  }
}
