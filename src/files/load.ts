/**
 * Reading the local files a record names: where each is, what kind it is (text, PDF, image, other),
 * its bytes and their SHA-256. A file that cannot be sent (missing, unreadable, too large, a kind
 * the endpoint cannot take) is a `FileProblem`: the record gets an error row naming the file.
 */
import { createHash } from 'node:crypto';
import { extname } from 'node:path';
import { namedPath, type ReadGuard, ReadRefusal, readBounded } from './read-guard.js';

export type FileKind = 'text' | 'pdf' | 'image' | 'binary';

/** The error codes of a file's error row. */
export type FileProblemCode =
  | 'file_not_found'
  | 'file_unreadable'
  | 'file_too_large'
  | 'file_unsupported'
  | 'file_not_allowed';

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
  return namedPath(name, baseDir);
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
  if (error instanceof ReadRefusal) return new FileProblem(error.code, error.message);
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR')
    return new FileProblem('file_not_found', `${name}: no such file`);
  if (code === 'EISDIR') return new FileProblem('file_unreadable', `${name}: is a folder, not a file`);
  if (code === 'ENXIO')
    return new FileProblem(
      'file_unsupported',
      `${name}: not a regular file (a socket or device); only regular files are read`,
    );
  if (code === 'ELOOP')
    return new FileProblem('file_not_allowed', `${name}: became a symbolic link while read`);
  const why = code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (error as Error).message;
  return new FileProblem('file_unreadable', `${name}: cannot be read (${why}${code ? `, ${code}` : ''})`);
}

/**
 * Reads one file whole (it is sent whole) through `guard` (inside the allowed folders, a regular
 * file, none of the run's own), at most `maxBytes` + 1 bytes: one byte more is too large.
 * Throws FileProblem (missing, not allowed, not a regular file, unreadable, too large).
 */
export async function loadFile(name: string, guard: ReadGuard, maxBytes: number): Promise<LoadedFile> {
  let bytes: Buffer;
  let size = 0;
  try {
    const handle = await guard.open(name);
    try {
      bytes = await readBounded(handle, maxBytes);
      // For the message only: the read above is bounded whatever the size says.
      if (bytes.length > maxBytes) size = (await handle.stat()).size;
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw problemOf(name, error);
  }
  if (bytes.length > maxBytes) {
    const how = size > maxBytes ? `${mb(size)} is over the` : 'over the';
    throw new FileProblem('file_too_large', `${name}: ${how} ${mb(maxBytes)} a file may have here`);
  }
  const path = guard.pathOf(name);
  return {
    name,
    path,
    ...kindOf(name, bytes),
    bytes,
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
}

/**
 * SHA-256 (hex) of a record's file, read through `guard`; `null` when it cannot be read (missing,
 * not allowed, not a regular file, …). Reads at most `maxBytes` + 1 bytes (`null` past that):
 * by default the largest file that can be sent at all (an upload).
 */
export async function hashFile(
  name: string,
  guard: ReadGuard,
  maxBytes = UPLOAD_MAX_BYTES,
): Promise<string | null> {
  const hash = createHash('sha256');
  try {
    const handle = await guard.open(name);
    try {
      const buffer = Buffer.allocUnsafe(MB);
      let total = 0;
      for (;;) {
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
        if (bytesRead === 0) break;
        total += bytesRead;
        if (total > maxBytes) return null;
        hash.update(buffer.subarray(0, bytesRead));
      }
    } finally {
      await handle.close();
    }
  } catch {
    return null;
  }
  return hash.digest('hex');
}
