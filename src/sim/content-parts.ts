/**
 * Message content parts as the chat and responses endpoints take them, read into text the
 * simulator can answer from deterministically: text parts as they are; images, files and audio
 * as `[image <hash>]`, `[file <name> <hash>]`, `[audio <hash>]`, where `<hash>` is the first 8 hex
 * digits of the SHA-256 of the bytes (a data URL's or `file_data`'s decoded bytes, an uploaded
 * file's content, or else the URL itself) — so an edited file gives another answer.
 *
 * Chat: `text`, `image_url` (`{ url }`), `file` (`{ file_data, filename }` or `{ file_id }`),
 * `input_audio`. Responses: `input_text`, `input_image` (`image_url` or `file_id`), `input_file`
 * (`file_data` + `filename`, `file_id` or `file_url`).
 */
import { createHash } from 'node:crypto';
import type { ErrorAnswer } from './api-errors.js';
import { apiError, missingParameter } from './api-errors.js';

/** An uploaded file as a content part sees it. */
export interface ResolvedFile {
  filename: string;
  content: Buffer;
}

/** Looks up a file id in the organization of the request's key. */
export type FileResolver = (id: string) => ResolvedFile | undefined;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function shortHash(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 8);
}

/** The bytes of a data URL (`data:<type>;base64,<data>`), or of raw base64; else the string's UTF-8. */
function dataBytes(data: string): Buffer {
  const match = /^data:[^,]*?(;base64)?,(.*)$/s.exec(data);
  if (match)
    return match[1] ? Buffer.from(match[2] ?? '', 'base64') : Buffer.from(decodeURIComponent(match[2] ?? ''));
  return /^[A-Za-z0-9+/=\s]+$/.test(data) ? Buffer.from(data, 'base64') : Buffer.from(data);
}

function urlHash(url: string): string {
  return shortHash(url.startsWith('data:') ? dataBytes(url) : url);
}

function fileText(
  file: { file_data?: unknown; file_id?: unknown; filename?: unknown; file_url?: unknown },
  resolve: FileResolver | undefined,
): string {
  if (typeof file.file_id === 'string') {
    const stored = resolve?.(file.file_id);
    return stored ? `[file ${stored.filename} ${shortHash(stored.content)}]` : `[file ${file.file_id}]`;
  }
  const name = typeof file.filename === 'string' ? file.filename : 'file';
  if (typeof file.file_data === 'string') return `[file ${name} ${shortHash(dataBytes(file.file_data))}]`;
  if (typeof file.file_url === 'string') return `[file ${name} ${urlHash(file.file_url)}]`;
  return `[file ${name}]`;
}

/** The text of one content part (`null` for a part with no text of its own). */
export function partText(part: unknown, resolve?: FileResolver): string | null {
  if (typeof part === 'string') return part;
  if (!isRecord(part)) return null;
  switch (part['type']) {
    case 'image_url': {
      const image = part['image_url'];
      const url = isRecord(image) ? image['url'] : image;
      return typeof url === 'string' ? `[image ${urlHash(url)}]` : '[image]';
    }
    case 'input_image': {
      if (typeof part['file_id'] === 'string') {
        const stored = resolve?.(part['file_id']);
        return `[image ${stored ? shortHash(stored.content) : part['file_id']}]`;
      }
      return typeof part['image_url'] === 'string' ? `[image ${urlHash(part['image_url'])}]` : '[image]';
    }
    case 'file':
      return isRecord(part['file']) ? fileText(part['file'], resolve) : '[file]';
    case 'input_file':
      return fileText(part, resolve);
    case 'input_audio': {
      const audio = part['input_audio'];
      return isRecord(audio) && typeof audio['data'] === 'string'
        ? `[audio ${shortHash(dataBytes(audio['data']))}]`
        : '[audio]';
    }
    default:
      return typeof part['text'] === 'string' ? part['text'] : null;
  }
}

/** The text of a message `content`: a string, or the text of its parts joined by newlines. */
export function contentText(content: unknown, resolve?: FileResolver): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  const texts: string[] = [];
  for (const part of content) {
    const text = partText(part, resolve);
    if (text !== null) texts.push(text);
  }
  return texts.join('\n');
}

/** The messages of a chat (`messages`) or responses (`input` array) body, with their parameter name. */
function messagesOf(body: Record<string, unknown>): { list: unknown[]; param: string } | null {
  if (Array.isArray(body['messages'])) return { list: body['messages'], param: 'messages' };
  if (Array.isArray(body['input'])) return { list: body['input'], param: 'input' };
  return null;
}

/**
 * The 400 for a content part the API refuses: a chat `file` part with neither `file_id` nor
 * `file_data` + `filename` (the API names `file_id` then), or a file id that is not one of this
 * organization's files. `null` when every part is fine.
 */
export function checkContentParts(body: Record<string, unknown>, resolve: FileResolver): ErrorAnswer | null {
  const messages = messagesOf(body);
  if (!messages) return null;
  for (const [m, message] of messages.list.entries()) {
    if (!isRecord(message) || !Array.isArray(message['content'])) continue;
    for (const [p, part] of message['content'].entries()) {
      if (!isRecord(part)) continue;
      const at = `${messages.param}[${m}].content[${p}]`;
      let id: unknown;
      let param = '';
      if (part['type'] === 'file') {
        const file = isRecord(part['file']) ? part['file'] : {};
        const inline = typeof file['file_data'] === 'string' && typeof file['filename'] === 'string';
        if (file['file_id'] === undefined && !inline) return missingParameter(`${at}.file.file_id`);
        id = file['file_id'];
        param = `${at}.file.file_id`;
      } else if (part['type'] === 'input_file' || part['type'] === 'input_image') {
        id = part['file_id'];
        param = `${at}.file_id`;
      }
      if (id === undefined || id === null) continue;
      if (typeof id !== 'string' || !resolve(id)) {
        return apiError(
          400,
          `Invalid '${param}': the file '${String(id)}' does not exist or you do not have access to it.`,
          'invalid_request_error',
          param,
          'invalid_value',
        );
      }
    }
  }
  return null;
}
