/**
 * What the pool's fetch makes of an answer and of a lease: the error fields of an error body, that
 * body cut to 4 KiB, Responses handed to the SDK, errors scrubbed of the key, the credentials set.
 */
import type { ApiErrorBody } from './classify.js';
import { capErrorText, MAX_ERROR_TEXT_BYTES, scrubHead, scrubSecret } from './redact.js';
import type { Answer } from './transport.js';
import type { Lease } from './types.js';

export interface ErrorFields extends ApiErrorBody {
  param?: unknown;
  message?: string | undefined;
}

export function errorBody(text: string): ErrorFields {
  try {
    const parsed = JSON.parse(text) as { error?: ErrorFields };
    const error = parsed.error ?? (parsed as ErrorFields);
    return {
      code: typeof error.code === 'string' ? error.code : undefined,
      type: error.type,
      param: error.param,
      message: typeof error.message === 'string' ? error.message : undefined,
    };
  } catch {
    return {};
  }
}

/**
 * An error body cut to 4 KiB, so what the SDK makes of it (and every row, lane record and audit
 * line after it) stays small: a JSON error keeps its code, type and param with its message cut.
 */
export function capErrorBody(text: string): string {
  if (text.length <= MAX_ERROR_TEXT_BYTES / 3 || Buffer.byteLength(text) <= MAX_ERROR_TEXT_BYTES) return text;
  const { code, type, param, message } = errorBody(text);
  if (message === undefined) return capErrorText(text);
  const small = (value: unknown) => (typeof value === 'string' ? value.slice(0, 200) : null);
  return JSON.stringify({
    error: { message: capErrorText(message), type: small(type), param: small(param), code: code ?? null },
  });
}

/** `error` with every piece of `key` in its messages and stacks (and its causes') replaced by `label`. */
export function scrubError(error: unknown, key: string, label: string): unknown {
  const queue: unknown[] = [error];
  for (let seen = 0; queue.length > 0 && seen < 12; seen++) {
    const current = queue.shift();
    if (current === null || typeof current !== 'object') continue;
    for (const field of ['message', 'stack'] as const) {
      const text = (current as Record<string, unknown>)[field];
      if (typeof text !== 'string') continue;
      const clean = scrubSecret(text, key, label);
      if (clean === text) continue;
      try {
        Object.defineProperty(current, field, { value: clean, configurable: true, writable: true });
      } catch {
        // A frozen error: nothing to do but leave it out of what is thrown.
        return new Error(scrubSecret(String((current as Error).message), key, label));
      }
    }
    const { cause, errors } = current as { cause?: unknown; errors?: unknown };
    if (cause !== undefined) queue.push(cause);
    if (Array.isArray(errors)) queue.push(...errors);
  }
  return error;
}

/** Sets the lease's credentials; false when a header cannot carry them (the key or organization has a bad character). */
export function setCredentials(headers: Headers, lease: Lease): boolean {
  try {
    headers.set('authorization', `Bearer ${lease.apiKey}`);
    if (lease.organization) headers.set('openai-organization', lease.organization);
    // (`has` first: a delete re-sorts the whole header list on its next read.)
    else if (headers.has('openai-organization')) headers.delete('openai-organization');
    return true;
  } catch {
    // The error names the value: it is dropped, never thrown.
    headers.delete('authorization');
    headers.delete('openai-organization');
    return false;
  }
}

/** Statuses whose Response may have no body. */
const NULL_BODY = new Set([101, 204, 205, 304]);

type Head = Pick<Response, 'status' | 'statusText' | 'headers' | 'url'>;

/** A Response for the SDK with the status line, headers and URL of `head`, over `body`. */
function responseOf(head: Head, body: string | null): Response {
  const response = new Response(body, {
    status: head.status,
    statusText: head.statusText,
    headers: head.headers,
  });
  return Object.defineProperty(response, 'url', { value: head.url });
}

/** A Response for the SDK from an answer whose body was read as `text`. */
export function textResponse(answer: Answer, text: string): Response {
  return responseOf(answer, NULL_BODY.has(answer.status) ? null : text);
}

/**
 * A JSON answer already read (for its usage), handed on without a second parse: the SDK reads it
 * through `json()`/`text()`, which give back what was read.
 */
function jsonResponse(answer: Answer, text: string, json: unknown): Response {
  return Object.defineProperties(responseOf(answer, null), {
    text: { value: async () => text },
    json: { value: async () => json },
    arrayBuffer: { value: async () => new TextEncoder().encode(text).buffer },
  });
}

/** A JSON answer read once: the tokens it used, and the Response to hand to the SDK. */
export function readJsonAnswer(
  answer: Answer,
  text: string,
): { response: Response; usage?: Record<string, unknown> } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // Not JSON after all: the SDK gets the text as it came and reports it.
    return { response: textResponse(answer, text) };
  }
  const usage = (json as { usage?: unknown } | null)?.usage;
  const response = jsonResponse(answer, text, json);
  return typeof usage === 'object' && usage !== null && !Array.isArray(usage)
    ? { response, usage: usage as Record<string, unknown> }
    : { response };
}

/**
 * How much of a stream's end waits for the next chunk when every key of the pool is scrubbed: only
 * a trailing run of characters a key can hold (visible ASCII, no whitespace), so an event that ends
 * in `\n\n` waits for nothing; longer than any provider's key (the longest seen are under 200).
 */
const STREAM_HOLD_CHARS = 512;

/** A streamed answer's text as it comes: `split` says what may go now and what waits for more. */
interface TextStep {
  split(text: string): { head: string; tail: string };
  /** The end of the stream: what is left, as it goes. */
  flush(text: string): string;
}

/** `response` with its body's text passed through `step`, chunk by chunk; status, headers and url kept. */
function pipeText(response: Response, step: TextStep): Response {
  if (!response.body) return response;
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let held = '';
  const body = response.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        const { head, tail } = step.split(held + decoder.decode(chunk, { stream: true }));
        held = tail;
        if (head) controller.enqueue(encoder.encode(head));
      },
      flush(controller) {
        const text = step.flush(held + decoder.decode());
        if (text) controller.enqueue(encoder.encode(text));
      },
    }),
  );
  const { status, statusText, headers, url } = response;
  const scrubbed = new Response(body, { status, statusText, headers });
  return Object.defineProperty(scrubbed, 'url', { value: url });
}

/**
 * A streamed text answer with `scrub` (every key of the pool, and pieces of them, redacted) applied
 * as whole answers are: what could be the start of a key split between chunks waits for the next.
 */
export function scrubStreamWith(response: Response, scrub: (text: string) => string): Response {
  return pipeText(response, {
    split(text) {
      // Cut the raw text after its last whitespace (no key holds one) and scrub what goes; the
      // rest waits unscrubbed, whole, for the next chunk.
      let cut = Math.max(0, text.length - STREAM_HOLD_CHARS);
      const space = text.slice(cut).search(/\s\S*$/);
      if (space >= 0) cut += space + 1;
      return { head: cut > 0 ? scrub(text.slice(0, cut)) : '', tail: text.slice(cut) };
    },
    flush: scrub,
  });
}

/**
 * A streamed text answer (`text/event-stream`) with every piece of `key` replaced by `label`, as
 * whole answers are. The last `key.length` characters (and a piece that reaches into them) wait
 * for the next chunk, so a key split between two chunks is caught too.
 */
export function scrubStream(response: Response, key: string, label: string): Response {
  return pipeText(response, {
    split: (text) => scrubHead(text, key, label),
    flush: (text) => scrubSecret(text, key, label),
  });
}
