/**
 * A run's structured-outputs settings, resolved before anything is sent: the schema normalised
 * (an invalid one is an InputError naming where it came from), the re-ask bound, and what of them
 * goes in the checkpoint's options (a run with another schema is other results).
 */
import type { Logger } from '../logger.js';
import { Structured } from '../requests/structured.js';
import { prepareSchema } from '../schema/schema.js';
import { DEFAULT_REASK } from '../schema/settle.js';
import type { ResolvedPromptOptions } from './options.js';

export async function openStructured(opts: ResolvedPromptOptions, logger: Logger): Promise<Structured> {
  const reask = opts.reask ?? DEFAULT_REASK;
  if (opts.schema === undefined) return new Structured(undefined, reask, logger);
  return new Structured(await prepareSchema(opts.schema, 'the `schema` option'), reask, logger);
}
