/**
 * The prompt task on a worker (a distributed runPrompts): each record sent through the worker's
 * pool-aware client, answered with its output row, as runPrompts' own task does; an answer that
 * can never succeed is a final row with `error`, anything transient is thrown (the coordinator
 * retries or records it). Tokens and cost are counted by the coordinator from the rows.
 */

import { KeybatchError } from '../errors.js';
import { silentLogger } from '../logger.js';
import { type BatchOutputLine, batchRefused, batchSuccess } from '../requests/batch-format.js';
import type { PromptJob } from '../requests/records.js';
import { apiMessage, isFinalAnswer, requestBody, send, transientError } from '../requests/requests.js';
import { errorRow, type PromptRow, successRow } from '../requests/rows.js';
import { Structured, structuredRow } from '../requests/structured.js';
import { jsonSchema, type SchemaEndpoint } from '../schema/index.js';
import { DEFAULT_REASK } from '../schema/settle.js';
import type { TaskFunction } from '../workers/types.js';
import type { PromptTaskSettings } from './options.js';

const requestIdOf = (answer: unknown): string | null => {
  const id = (answer as { _request_id?: unknown } | null)?._request_id;
  return typeof id === 'string' ? id : null;
};

/** The run's schema on a worker: JSON Schema checked with ajv (a zod schema cannot travel). */
function workerStructured(settings: PromptTaskSettings): Structured {
  const schema = settings.schema
    ? jsonSchema({ name: settings.schema.name, schema: settings.schema.json }, 'the run’s schema')
    : undefined;
  return new Structured(schema, settings.reask ?? DEFAULT_REASK, silentLogger);
}

export function promptTask(
  settings: PromptTaskSettings,
  scrub: (text: string) => string,
): TaskFunction<PromptJob, PromptRow | BatchOutputLine> {
  const batch = settings.format === 'batch';
  const structured = workerStructured(settings);
  return (chunk, ctx) =>
    Promise.all(
      chunk.map(async (job) => {
        if (job.files && job.files.length > 0) {
          throw new KeybatchError(
            'TASK_INVALID',
            `record ${String(job.id)} names files: records with files cannot run distributed yet (the files are on the coordinator)`,
          );
        }
        const body = structured.body(job.endpoint, requestBody(job, settings.model, settings.params));
        try {
          const answer = await send(ctx.client, job.endpoint, body, ctx.signal);
          const schema = structured.schemaFor(job.endpoint, body);
          if (schema) {
            const settled = await structured.settle(
              job.endpoint as SchemaEndpoint,
              body,
              answer,
              schema,
              (next) => send(ctx.client, job.endpoint, next, ctx.signal),
            );
            return structuredRow(job, settled, body['model'], { raw: settings.raw, format: settings.format });
          }
          if (batch) return batchSuccess(job, answer, requestIdOf(answer));
          return successRow(job, job.endpoint, answer, body['model'], settings.raw);
        } catch (error) {
          if (!isFinalAnswer(error)) throw transientError(error);
          const answer = {
            status: error.status ?? null,
            code: error.code ?? null,
            message: scrub(apiMessage(error)),
          };
          if (!batch) return errorRow(job, answer);
          return batchRefused(job, {
            ...answer,
            status: error.status as number,
            requestId: error.requestID ?? null,
            error: JSON.parse(scrub(JSON.stringify(error.error ?? null))),
          });
        }
      }),
    );
}
