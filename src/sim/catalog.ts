/**
 * The non-model endpoints: the model list (`/v1/models`) and a minimal file store (`/v1/files`)
 * with just enough multipart parsing to name the file and count its bytes.
 */

/** A fixed creation time so model objects are deterministic. */
const MODEL_CREATED = 1_686_935_002;

export function modelObject(id: string) {
  return { id, object: 'model', created: MODEL_CREATED, owned_by: 'system' };
}

export function modelList(models: readonly string[]) {
  return { object: 'list', data: models.map(modelObject) };
}

export interface FileObject {
  id: string;
  object: 'file';
  bytes: number;
  created_at: number;
  expires_at: null;
  filename: string;
  purpose: string;
  status: 'processed';
  status_details: null;
}

export interface MultipartFile {
  filename: string;
  bytes: number;
  fields: Record<string, string>;
}

/** The boundary of a `multipart/form-data` content type, or `null`. */
export function multipartBoundary(contentType: string | undefined): string | null {
  if (!contentType?.toLowerCase().startsWith('multipart/form-data')) return null;
  const match = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return match?.[1] ?? match?.[2] ?? null;
}

/** Reads the `file` part (name and size) and the text fields of a multipart body. */
export function parseMultipart(body: Buffer, boundary: string): MultipartFile | null {
  const delimiter = Buffer.from(`--${boundary}`);
  const fields: Record<string, string> = {};
  let file: { filename: string; bytes: number } | null = null;
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
      if (filename !== undefined) file = { filename, bytes: content.length };
      else if (name !== undefined) fields[name] = content.toString('utf8');
    }
    start = next;
  }
  return file ? { ...file, fields } : null;
}

/** Uploaded files, newest last; only their metadata is kept. */
export class FileStore {
  readonly #files = new Map<string, FileObject>();

  add(upload: MultipartFile, id: string, now: number): FileObject {
    const file: FileObject = {
      id: `file-${id}`,
      object: 'file',
      bytes: upload.bytes,
      created_at: Math.floor(now / 1000),
      expires_at: null,
      filename: upload.filename,
      purpose: upload.fields['purpose'] ?? 'user_data',
      status: 'processed',
      status_details: null,
    };
    this.#files.set(file.id, file);
    return file;
  }

  get(id: string): FileObject | undefined {
    return this.#files.get(id);
  }

  delete(id: string): boolean {
    return this.#files.delete(id);
  }

  list() {
    const data = [...this.#files.values()].reverse();
    return {
      object: 'list',
      data,
      first_id: data[0]?.id ?? null,
      last_id: data.at(-1)?.id ?? null,
      has_more: false,
    };
  }
}
