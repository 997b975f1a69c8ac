/** The endpoints a prompt record can be sent to, the output formats, and the words options use to name a bad value. */

/** The API a prompt record is sent to (OpenAI Batch API lines take theirs from `url`). */
export type Endpoint = 'chat' | 'responses' | 'completions' | 'embeddings';

export const ENDPOINTS: readonly Endpoint[] = Object.freeze([
  'chat',
  'responses',
  'completions',
  'embeddings',
]);

/** The shape of the output lines. */
export type OutputFormat = 'rows' | 'batch';

export const OUTPUT_FORMATS: readonly OutputFormat[] = Object.freeze(['rows', 'batch']);

/** A value as an error message shows it: `value` (type), cut at 60 characters. */
export function describeValue(value: unknown): string {
  let shown: string;
  try {
    shown = typeof value === 'function' ? 'function' : (JSON.stringify(value) ?? String(value));
  } catch {
    shown = String(value);
  }
  if (shown.length > 60) shown = `${shown.slice(0, 57)}...`;
  return `\`${shown}\` (${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value})`;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
