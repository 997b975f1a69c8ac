/**
 * Structured outputs in runPrompts and the Batch backend: the run's schema put in each request
 * (a record's own `response_format` / `text.format` wins), the schema that applies to a request
 * (the record's own `json_schema`, else the run's), the bounded re-ask, and the row it ends in:
 *
 *   valid:  the success row with `parsed` (and `reasks`, `usage` summed over every answer)
 *   failed: the error row `{ error: { status: null, code, message }, response, finish_reason, usage, reasks }`
 *           with code SCHEMA_INVALID, TRUNCATED, FILTERED or REFUSED (final: a rerun keeps it
 *           unless `retryFailed`)
 */
import { canonicalJson } from '../checkpoint/manifest.js';
import type { Logger } from '../logger.js';
import {
  jsonSchema,
  type OutputSchema,
  ownJsonSchema,
  type SchemaEndpoint,
  takesSchema,
  withSchema,
} from '../schema/index.js';
import { type Settled, settleStructured, sumUsage } from '../schema/settle.js';
import type { BatchOutputLine } from './batch-format.js';
import type { Endpoint } from './endpoint.js';
import type { PromptJob } from './records.js';
import { errorRow, type PromptRow, successRow } from './rows.js';

type Json = Record<string, unknown>;

/** Records' own schemas compiled and kept at most (most runs have one). */
const MAX_OWN_SCHEMAS = 256;

export class Structured {
  readonly #own = new Map<string, OutputSchema | null>();

  constructor(
    /** The run's schema. */
    readonly schema: OutputSchema | undefined,
    /** Re-asks of an invalid answer at most. */
    readonly reask: number,
    private readonly logger: Logger,
  ) {}

  /** The request with the run's schema, unless it sets its own output format. */
  body(endpoint: Endpoint, body: Json): Json {
    if (!this.schema || !takesSchema(endpoint)) return body;
    return withSchema(endpoint, body, this.schema);
  }

  /** The schema an answer to `body` is checked against, if any. */
  schemaFor(endpoint: Endpoint, body: Json): OutputSchema | undefined {
    if (!takesSchema(endpoint)) return undefined;
    const own = ownJsonSchema(endpoint, body);
    if (!own) return undefined;
    if (this.schema && own['schema'] === this.schema.json) return this.schema;
    const key = canonicalJson(own);
    const known = this.#own.get(key);
    if (known !== undefined) return known ?? undefined;
    let compiled: OutputSchema | null = null;
    try {
      compiled = jsonSchema(own, 'a record’s response_format.json_schema');
    } catch (error) {
      this.logger.warn(`${(error as Error).message}; answers to it are not checked`);
    }
    if (this.#own.size < MAX_OWN_SCHEMAS) this.#own.set(key, compiled);
    return compiled ?? undefined;
  }

  /** Checks the answer, re-asking through `ask` while it is invalid. */
  settle(
    endpoint: SchemaEndpoint,
    body: Json,
    answer: unknown,
    schema: OutputSchema,
    ask: (body: Json) => Promise<unknown>,
  ): Promise<Settled> {
    return settleStructured({ endpoint, body, answer, schema, reask: this.reask, ask });
  }
}

const requestIdOf = (answer: unknown): string | null => {
  const id = (answer as { _request_id?: unknown } | null)?._request_id;
  return typeof id === 'string' ? id : null;
};

export interface RowSettings {
  raw: boolean;
  format: 'rows' | 'batch';
  /** The request id of the last answer (Batch API lines: the line's own). @default the SDK's */
  requestId?: string | null;
}

/** The output row (or Batch API line) of a settled structured answer. */
export function structuredRow(
  job: PromptJob,
  settled: Settled,
  model: unknown,
  settings: RowSettings,
): PromptRow | BatchOutputLine {
  const { result, answer, reasks } = settled;
  const extra = reasks > 0 ? { reasks } : {};
  if (settings.format === 'batch') return batchLine(job, settled, settings);
  const row = successRow(job, job.endpoint, answer, model, settings.raw);
  const usage = sumUsage(settled.answers);
  if (result.kind === 'valid') return { ...row, usage, parsed: result.parsed, ...extra };
  const failed = errorRow(job, { status: null, code: result.code, message: result.message });
  return {
    ...failed,
    response: result.text,
    finish_reason: row.finish_reason,
    model: row.model,
    usage,
    ...extra,
  };
}

function batchLine(job: PromptJob, settled: Settled, settings: RowSettings): BatchOutputLine {
  const { result, answer, reasks } = settled;
  const requestId = settings.requestId === undefined ? requestIdOf(answer) : settings.requestId;
  const line = {
    id: `batch_req_${job.index}`,
    custom_id: String(job.id),
    response: { status_code: 200, request_id: requestId, body: answer },
    ...(reasks > 0 ? { reasks } : {}),
  };
  if (result.kind === 'valid') return { ...line, error: null, parsed: result.parsed } as BatchOutputLine;
  return { ...line, error: { code: result.code, message: result.message } };
}
