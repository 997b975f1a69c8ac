/**
 * `/v1/files`: uploads (multipart, with `purpose`), kept with their bytes and the organization
 * of the key that uploaded them. Another organization's file is not found (404), as on the API.
 */
import { apiError, type ErrorAnswer, fileNotFound, missingParameter } from './api-errors.js';

export interface FileObject {
  id: string;
  object: 'file';
  bytes: number;
  created_at: number;
  expires_at: number | null;
  filename: string;
  purpose: string;
  status: 'processed';
  status_details: null;
}

export interface StoredFile {
  readonly object: FileObject;
  readonly content: Buffer;
  readonly organization: string;
}

export interface MultipartFile {
  filename: string;
  content: Buffer;
  fields: Record<string, string>;
}

export const UPLOAD_PURPOSES = ['assistants', 'batch', 'fine-tune', 'vision', 'user_data', 'evals'] as const;

/** The boundary of a `multipart/form-data` content type, or `null`. */
export function multipartBoundary(contentType: string | undefined): string | null {
  if (!contentType?.toLowerCase().startsWith('multipart/form-data')) return null;
  const match = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return match?.[1] ?? match?.[2] ?? null;
}

/** Reads the `file` part (name and bytes) and the text fields of a multipart body. */
export function parseMultipart(body: Buffer, boundary: string): MultipartFile | null {
  const delimiter = Buffer.from(`--${boundary}`);
  const fields: Record<string, string> = {};
  let file: { filename: string; content: Buffer } | null = null;
  let start = body.indexOf(delimiter);
  while (start !== -1) {
    const partStart = start + delimiter.length;
    if (body.subarray(partStart, partStart + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, partStart);
    if (next === -1) break;
    const part = body.subarray(partStart, next);
    const headerEnd = part.indexOf('\r\n\r\n');
    if (headerEnd !== -1) {
      const headers = part.subarray(0, headerEnd).toString('utf8');
      // The content runs from after the blank line to the CRLF before the next delimiter.
      const content = part.subarray(headerEnd + 4, Math.max(headerEnd + 4, part.length - 2));
      const name = /\bname="([^"]*)"/i.exec(headers)?.[1];
      const filename = /\bfilename="([^"]*)"/i.exec(headers)?.[1];
      if (filename !== undefined) file = { filename, content: Buffer.from(content) };
      else if (name !== undefined) fields[name] = content.toString('utf8');
    }
    start = next;
  }
  return file ? { ...file, fields } : null;
}

/** A page of a list endpoint, newest first, after the `after` id, at most `limit` items. */
export function page<T extends { id: string }>(newestFirst: T[], after: string | null, limit: number) {
  let start = 0;
  if (after !== null) {
    const index = newestFirst.findIndex((item) => item.id === after);
    start = index === -1 ? newestFirst.length : index + 1;
  }
  const data = newestFirst.slice(start, start + limit);
  return {
    object: 'list',
    data,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
    has_more: start + limit < newestFirst.length,
  };
}

/** `limit` of a list request: 1 to `max`, else a 400. */
export function listLimit(query: URLSearchParams, fallback: number, max: number): number | ErrorAnswer {
  const raw = query.get('limit');
  if (raw === null) return fallback;
  const limit = Number(raw);
  if (!Number.isInteger(limit) || limit < 1 || limit > max) {
    return apiError(
      400,
      `Invalid 'limit': expected an integer from 1 to ${max}, but got ${JSON.stringify(raw)} instead.`,
      'invalid_request_error',
      'limit',
      'invalid_value',
    );
  }
  return limit;
}

export class FileStore {
  readonly #files = new Map<string, StoredFile>();

  /** Stores a file (an upload, or a batch's output) of `organization`. */
  put(
    organization: string,
    id: string,
    filename: string,
    purpose: string,
    content: Buffer,
    now: number,
  ): FileObject {
    const object: FileObject = {
      id,
      object: 'file',
      bytes: content.length,
      created_at: Math.floor(now / 1000),
      // Batch inputs and outputs expire after 30 days by default, as on the API.
      expires_at: purpose.startsWith('batch') ? Math.floor(now / 1000) + 30 * 86_400 : null,
      filename,
      purpose,
      status: 'processed',
      status_details: null,
    };
    this.#files.set(id, { object, content, organization });
    return object;
  }

  /** An upload: the stored file object, or the API's 400 for a missing or invalid part. */
  upload(
    organization: string,
    upload: MultipartFile | null,
    id: string,
    maxBytes: number,
    now: number,
  ): FileObject | ErrorAnswer {
    if (!upload) return missingParameter('file');
    const purpose = upload.fields['purpose'];
    if (purpose === undefined || purpose === '') return missingParameter('purpose');
    if (!(UPLOAD_PURPOSES as readonly string[]).includes(purpose)) {
      return apiError(
        400,
        `Invalid value for 'purpose': '${purpose}'. Supported values are: ${UPLOAD_PURPOSES.map((p) => `'${p}'`).join(', ')}.`,
        'invalid_request_error',
        'purpose',
        'invalid_value',
      );
    }
    if (purpose === 'batch' && !upload.filename.toLowerCase().endsWith('.jsonl')) {
      return apiError(400, 'Invalid file format for Batch API. Must be .jsonl', 'invalid_request_error');
    }
    if (upload.content.length > maxBytes) {
      return apiError(
        400,
        `File is too large: ${upload.content.length} bytes; the maximum is ${maxBytes} bytes.`,
        'invalid_request_error',
        'file',
        'file_too_large',
      );
    }
    return this.put(organization, `file-${id}`, upload.filename, purpose, upload.content, now);
  }

  /** The file if it exists and belongs to `organization`. */
  get(organization: string, id: string): StoredFile | undefined {
    const file = this.#files.get(id);
    return file && file.organization === organization ? file : undefined;
  }

  find(organization: string, id: string): FileObject | ErrorAnswer {
    return this.get(organization, id)?.object ?? fileNotFound(id);
  }

  delete(organization: string, id: string): { id: string; object: 'file'; deleted: true } | ErrorAnswer {
    if (!this.get(organization, id)) return fileNotFound(id);
    this.#files.delete(id);
    return { id, object: 'file', deleted: true };
  }

  list(organization: string, query: URLSearchParams) {
    const limit = listLimit(query, 10_000, 10_000);
    if (typeof limit !== 'number') return limit;
    const purpose = query.get('purpose');
    const files = [...this.#files.values()]
      .filter((f) => f.organization === organization && (purpose === null || f.object.purpose === purpose))
      .map((f) => f.object)
      .reverse();
    if (query.get('order') === 'asc') files.reverse();
    return page(files, query.get('after'), limit);
  }
}
