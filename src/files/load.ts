/**
 * Reading the local files a record names: where each is, what kind it is (text, PDF, image, other),
 * its bytes and their SHA-256. A file that cannot be sent (missing, unreadable, too large, a kind
 * the endpoint cannot take) is a `FileProblem`: the record gets an error row naming the file.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { extname, isAbsolute, resolve } from 'node:path';

export type FileKind = 'text' | 'pdf' | 'image' | 'binary';

/** The error codes of a file's error row. */
export type FileProblemCode = 'file_not_found' | 'file_unreadable' | 'file_too_large' | 'file_unsupported';

/** A file that cannot be sent as asked; `message` names it. */
export class FileProblem extends Error {
  override readonly name = 'FileProblem';

  constructor(
    readonly code: FileProblemCode,
    message: string,
  ) {
    super(message);
  }
}

export interface LoadedFile {
  /** The path as the record gives it. */
  name: string;
  /** Where it is on disk. */
  path: string;
  kind: FileKind;
  /** Its media type (`image/png`, `application/pdf`, `text/plain`, …). */
  mime: string;
  bytes: Buffer;
  /** SHA-256 (hex) of the bytes. */
  sha256: string;
}

/** Bytes of one file sent inline (base64 or text): the API takes file inputs up to 50 MB a request. */
export const INLINE_MAX_BYTES = 50 * 1024 * 1024;
/** Bytes of one upload: the Files API takes files up to 512 MB. */
export const UPLOAD_MAX_BYTES = 512 * 1024 * 1024;

const IMAGES: Readonly<Record<string, string>> = Object.freeze({
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
});

/** Media types of document files the responses endpoint reads (others go as octet-stream). */
const DOCUMENTS: Readonly<Record<string, string>> = Object.freeze({
  '.docx': 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  '.pptx': 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
  '.xlsx': 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  '.doc': 'application/msword',
  '.xls': 'application/vnd.ms-excel',
  '.rtf': 'application/rtf',
  '.odt': 'application/vnd.oasis.opendocument.text',
});

const MB = 1024 * 1024;
const mb = (bytes: number) => `${(bytes / MB).toFixed(bytes < 10 * MB ? 1 : 0)} MB`;

/** Where a record's file is: relative paths from `baseDir`. */
export function filePath(name: string, baseDir: string): string {
  return isAbsolute(name) ? name : resolve(baseDir, name);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Text: valid UTF-8 with no NUL byte. */
function isText(bytes: Buffer): boolean {
  if (bytes.includes(0)) return false;
  try {
    utf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

function kindOf(name: string, bytes: Buffer): { kind: FileKind; mime: string } {
  const ext = extname(name).toLowerCase();
  if (ext === '.pdf') return { kind: 'pdf', mime: 'application/pdf' };
  const image = IMAGES[ext];
  if (image) return { kind: 'image', mime: image };
  const document = DOCUMENTS[ext];
  if (document) return { kind: 'binary', mime: document };
  if (isText(bytes)) return { kind: 'text', mime: 'text/plain' };
  return { kind: 'binary', mime: 'application/octet-stream' };
}

function problemOf(name: string, error: unknown): FileProblem {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR')
    return new FileProblem('file_not_found', `${name}: no such file`);
  if (code === 'EISDIR') return new FileProblem('file_unreadable', `${name}: is a folder, not a file`);
  const why = code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (error as Error).message;
  return new FileProblem('file_unreadable', `${name}: cannot be read (${why}${code ? `, ${code}` : ''})`);
}

/**
 * Reads one file whole (it is sent whole): refuses one over `maxBytes` before reading it.
 * Throws FileProblem (missing, unreadable, a folder, too large).
 */
export async function loadFile(name: string, baseDir: string, maxBytes: number): Promise<LoadedFile> {
  const path = filePath(name, baseDir);
  let bytes: Buffer;
  try {
    const info = await stat(path);
    if (info.isDirectory()) throw Object.assign(new Error('folder'), { code: 'EISDIR' });
    if (info.size > maxBytes) {
      throw new FileProblem(
        'file_too_large',
        `${name}: ${mb(info.size)} is over the ${mb(maxBytes)} a file may have here`,
      );
    }
    const handle = await open(path, 'r');
    try {
      bytes = await handle.readFile();
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof FileProblem) throw error;
    throw problemOf(name, error);
  }
  if (bytes.length > maxBytes) {
    throw new FileProblem('file_too_large', `${name}: ${mb(bytes.length)} is over the ${mb(maxBytes)} limit`);
  }
  return {
    name,
    path,
    ...kindOf(name, bytes),
    bytes,
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
}

/** SHA-256 (hex) of a file's bytes, streamed; `null` when it cannot be read (missing, a folder, …). */
export async function hashFile(path: string): Promise<string | null> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: MB })) hash.update(chunk as Buffer);
  } catch {
    return null;
  }
  return hash.digest('hex');
}
