/**
 * A batch input file read as the Batch API validates it: one JSON request per line
 * (`{ custom_id, method: "POST", url, body }`), `custom_id` unique, `url` the batch's endpoint,
 * one model. Problems are the API's validation errors, each naming its (1-based) line.
 */

export interface BatchError {
  code: string;
  line: number | null;
  message: string;
  param: string | null;
}

export interface BatchLine {
  /** 1-based line number in the input file. */
  line: number;
  customId: string;
  body: Record<string, unknown>;
}

export type ReadLines =
  | { ok: true; lines: BatchLine[]; model: string | null }
  | { ok: false; errors: BatchError[] };

/** At most this many errors are reported, as the API caps its list. */
const MAX_ERRORS = 50;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function missing(line: number, param: string): BatchError {
  return {
    code: 'missing_required_parameter',
    line,
    message: `Missing required parameter: '${param}'.`,
    param,
  };
}

/** Validates the lines of `content` for a batch of `endpoint` (e.g. `/v1/chat/completions`). */
export function readBatchLines(content: Buffer, endpoint: string, maxRequests: number): ReadLines {
  const text = content.toString('utf8').replace(/^\uFEFF/, '');
  const errors: BatchError[] = [];
  const lines: BatchLine[] = [];
  const batch: BatchSoFar = { endpoint, seen: new Set(), model: null };
  for (const [index, source] of text.split('\n').entries()) {
    if (errors.length >= MAX_ERRORS) break;
    if (source.trim() === '') continue;
    const read = readLine(source, index + 1, batch);
    if ('code' in read) errors.push(read);
    else lines.push(read);
  }
  if (errors.length > 0) return { ok: false, errors };
  const whole = fileError(lines.length, maxRequests);
  return whole ? { ok: false, errors: [whole] } : { ok: true, lines, model: batch.model };
}

/** What the lines before tell the next: the endpoint, the custom ids taken, the batch's model. */
interface BatchSoFar {
  endpoint: string;
  seen: Set<string>;
  model: string | null;
}

function invalid(code: string, line: number, message: string, param: string | null = null): BatchError {
  return { code, line, message, param };
}

/** One non-blank line: the request it holds, or the API's error for it. */
function readLine(source: string, line: number, batch: BatchSoFar): BatchLine | BatchError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(source);
  } catch {
    return invalid('invalid_json_line', line, 'This line is not parseable as valid JSON.');
  }
  if (!isRecord(parsed)) return invalid('invalid_json_line', line, 'This line is not a JSON object.');
  const customId = parsed['custom_id'];
  if (typeof customId !== 'string' || customId === '') return missing(line, 'custom_id');
  if (parsed['method'] !== 'POST') {
    if (parsed['method'] === undefined) return missing(line, 'method');
    return invalid('invalid_value', line, "Invalid value for 'method': only 'POST' is supported.", 'method');
  }
  if (parsed['url'] !== batch.endpoint) {
    if (parsed['url'] === undefined) return missing(line, 'url');
    const message = `The provided URL '${String(parsed['url'])}' does not match the batch endpoint '${batch.endpoint}'.`;
    return invalid('url_mismatch', line, message, 'url');
  }
  const body = parsed['body'];
  if (!isRecord(body)) return missing(line, 'body');
  if (batch.seen.has(customId)) {
    const message =
      'The custom_id for this request is a duplicate of another request. The custom_id parameter must be unique for each request in a batch.';
    return invalid('duplicate_custom_id', line, message, 'custom_id');
  }
  batch.seen.add(customId);
  const lineModel = typeof body['model'] === 'string' ? body['model'] : null;
  if (lineModel === null) return missing(line, 'body.model');
  if (batch.model !== null && lineModel !== batch.model) {
    const message = `The model '${lineModel}' does not match the model '${batch.model}' of the other requests in this batch: a batch uses one model.`;
    return invalid('model_mismatch', line, message, 'body.model');
  }
  batch.model = lineModel;
  return { line, customId, body };
}

/** The file's own error, once every line is valid: empty, or more requests than a batch takes. */
function fileError(count: number, maxRequests: number): BatchError | undefined {
  if (count === 0)
    return { code: 'empty_file', line: null, message: 'The batch input file is empty.', param: null };
  if (count <= maxRequests) return undefined;
  const message = `The batch input file has ${count} requests; at most ${maxRequests} are allowed.`;
  return { code: 'too_many_tasks', line: null, message, param: null };
}

const EXPIRE = /\[\[sim:expire(?:x(\d+))?\]\]/;

/** Remembers `[[sim:expirex N]]` texts, so such a line expires only its first N times. */
export class ExpireMemory {
  readonly #seen = new Map<string, number>();

  /** Whether this occurrence of a line with `text` never completes. */
  expires(text: string): boolean {
    const match = EXPIRE.exec(text);
    if (!match) return false;
    if (match[1] === undefined) return true;
    const seen = this.#seen.get(text) ?? 0;
    this.#seen.set(text, seen + 1);
    return seen < Number(match[1]);
  }
}
