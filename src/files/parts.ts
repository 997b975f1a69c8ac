/**
 * Files as the endpoints take them, pure. Text files are inlined with their name; PDFs and images
 * go as base64 data URLs, or by uploaded file id:
 *
 *   chat:      text part · `image_url` { url: data URL } · `file` { filename, file_data } | { file_id }
 *   responses: `input_text` · `input_image` { image_url: data URL | file_id } · `input_file` { filename, file_data } | { file_id }
 *
 * Chat takes only PDFs as file parts (and images by URL only, not by file id); other binary files
 * need the responses endpoint.
 */
import { basename } from 'node:path';
import { FileProblem, type LoadedFile } from './load.js';

export type FileEndpoint = 'chat' | 'responses';

/** One file to attach: its bytes, and the id of its upload when it goes by id. */
export interface Attachment {
  file: LoadedFile;
  fileId?: string | undefined;
}

/** Whether the endpoint can take this file by an uploaded id (else it goes inline). */
export function uploadable(endpoint: FileEndpoint, file: LoadedFile): boolean {
  if (file.kind === 'text') return false;
  return endpoint === 'responses' || file.kind === 'pdf';
}

/** The text of an inlined text file: its name, then its content. */
export function inlineText(file: LoadedFile): string {
  return `<file name="${file.name}">\n${file.bytes.toString('utf8')}\n</file>`;
}

const dataUrl = (file: LoadedFile) => `data:${file.mime};base64,${file.bytes.toString('base64')}`;

/** The content part of one file on `endpoint`; FileProblem for a kind it cannot take. */
export function filePart(endpoint: FileEndpoint, { file, fileId }: Attachment): Record<string, unknown> {
  const filename = basename(file.name);
  if (endpoint === 'chat') {
    switch (file.kind) {
      case 'text':
        return { type: 'text', text: inlineText(file) };
      case 'image':
        return { type: 'image_url', image_url: { url: dataUrl(file) } };
      case 'pdf':
        return { type: 'file', file: fileId ? { file_id: fileId } : { filename, file_data: dataUrl(file) } };
      case 'binary':
        throw new FileProblem(
          'file_unsupported',
          `${file.name}: the chat endpoint takes only PDF files and images; send it with --endpoint responses`,
        );
    }
  }
  switch (file.kind) {
    case 'text':
      return { type: 'input_text', text: inlineText(file) };
    case 'image':
      return fileId
        ? { type: 'input_image', file_id: fileId, detail: 'auto' }
        : { type: 'input_image', image_url: dataUrl(file), detail: 'auto' };
    case 'pdf':
    case 'binary':
      return fileId
        ? { type: 'input_file', file_id: fileId }
        : { type: 'input_file', filename, file_data: dataUrl(file) };
  }
}

type Message = Record<string, unknown>;

function withParts(message: Message, textType: string, parts: Record<string, unknown>[]): Message {
  const content = message['content'];
  const own =
    typeof content === 'string' ? [{ type: textType, text: content }] : Array.isArray(content) ? content : [];
  return { ...message, content: [...own, ...parts] };
}

/**
 * The request body with the files' parts after the content of its last user message (a chat
 * `messages` body, or a responses `input` string or message list). Pure: `body` is not changed.
 */
export function attachFiles(
  endpoint: FileEndpoint,
  body: Record<string, unknown>,
  attachments: readonly Attachment[],
): Record<string, unknown> {
  if (attachments.length === 0) return body;
  const parts = attachments.map((a) => filePart(endpoint, a));
  const textType = endpoint === 'chat' ? 'text' : 'input_text';
  const field = endpoint === 'chat' ? 'messages' : 'input';
  const value = body[field];
  const messages: Message[] =
    typeof value === 'string' ? [{ role: 'user', content: value }] : Array.isArray(value) ? [...value] : [];
  let last = -1;
  for (let k = messages.length - 1; k >= 0; k--) {
    if (messages[k]?.['role'] === 'user') {
      last = k;
      break;
    }
  }
  if (last === -1) messages.push({ role: 'user', content: parts });
  else messages[last] = withParts(messages[last] as Message, textType, parts);
  return { ...body, [field]: messages };
}
