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
  const raw = text.split('\n');
  const errors: BatchError[] = [];
  const lines: BatchLine[] = [];
  const seen = new Set<string>();
  let model: string | null = null;
  for (const [index, source] of raw.entries()) {
    if (errors.length >= MAX_ERRORS) break;
    const line = index + 1;
    if (source.trim() === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(source);
    } catch {
      errors.push({
        code: 'invalid_json_line',
        line,
        message: 'This line is not parseable as valid JSON.',
        param: null,
      });
      continue;
    }
    if (!isRecord(parsed)) {
      errors.push({
        code: 'invalid_json_line',
        line,
        message: 'This line is not a JSON object.',
        param: null,
      });
      continue;
    }
    const customId = parsed['custom_id'];
    if (typeof customId !== 'string' || customId === '') {
      errors.push(missing(line, 'custom_id'));
      continue;
    }
    if (parsed['method'] !== 'POST') {
      errors.push(
        parsed['method'] === undefined
          ? missing(line, 'method')
          : {
              code: 'invalid_value',
              line,
              message: "Invalid value for 'method': only 'POST' is supported.",
              param: 'method',
            },
      );
      continue;
    }
    if (parsed['url'] !== endpoint) {
      errors.push(
        parsed['url'] === undefined
          ? missing(line, 'url')
          : {
              code: 'url_mismatch',
              line,
              message: `The provided URL '${String(parsed['url'])}' does not match the batch endpoint '${endpoint}'.`,
              param: 'url',
            },
      );
      continue;
    }
    const body = parsed['body'];
    if (!isRecord(body)) {
      errors.push(missing(line, 'body'));
      continue;
    }
    if (seen.has(customId)) {
      errors.push({
        code: 'duplicate_custom_id',
        line,
        message:
          'The custom_id for this request is a duplicate of another request. The custom_id parameter must be unique for each request in a batch.',
        param: 'custom_id',
      });
      continue;
    }
    seen.add(customId);
    const lineModel = typeof body['model'] === 'string' ? body['model'] : null;
    if (lineModel === null) {
      errors.push(missing(line, 'body.model'));
      continue;
    }
    if (model !== null && lineModel !== model) {
      errors.push({
        code: 'model_mismatch',
        line,
        message: `The model '${lineModel}' does not match the model '${model}' of the other requests in this batch: a batch uses one model.`,
        param: 'body.model',
      });
      continue;
    }
    model = lineModel;
    lines.push({ line, customId, body });
  }
  if (errors.length > 0) return { ok: false, errors };
  if (lines.length === 0) {
    return {
      ok: false,
      errors: [{ code: 'empty_file', line: null, message: 'The batch input file is empty.', param: null }],
    };
  }
  if (lines.length > maxRequests) {
    return {
      ok: false,
      errors: [
        {
          code: 'too_many_tasks',
          line: null,
          message: `The batch input file has ${lines.length} requests; at most ${maxRequests} are allowed.`,
          param: null,
        },
      ],
    };
  }
  return { ok: true, lines, model };
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
