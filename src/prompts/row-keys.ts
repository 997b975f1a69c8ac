/**
 * Prompt rows known by what they ask: each job gets its identity (`key`), the sha256 of its
 * canonical request (see src/identity), so a rerun sends only rows whose request has no answer
 * yet, the cache finds answers across runs, and the Batch backend names lines by it. The output
 * row of a position keeps its own record's `id` (`rowTag`/`rowLine`): two records asking the same
 * thing share one answer, not one id.
 */
import { hashFile } from '../files/load.js';
import type { ReadGuard } from '../files/read-guard.js';
import { namespaceOf, rowIdentity } from '../identity/index.js';
import type { KeyPool } from '../keys/key-pool.js';
import { DEFAULT_BASE_URL } from '../keys/pool-fetch.js';
import type { PipelineInput } from '../pipeline/input.js';
import type { OutputFormat } from '../requests/endpoint.js';
import type { PromptJob } from '../requests/records.js';
import { requestBody } from '../requests/requests.js';

/** What of a run shapes its rows' identities. */
export interface IdentitySettings {
  namespace: string;
  model: string | undefined;
  params: Readonly<Record<string, unknown>>;
  /** Reads records' `files` (their content is part of the identity), with the run's file rules. */
  guard: ReadGuard;
  /** The body as the run sends it (a run's schema as `response_format`): part of the identity. */
  shape?: (endpoint: PromptJob['endpoint'], body: Record<string, unknown>) => Record<string, unknown>;
}

/** The provider namespace of the pool's keys (their base URLs). */
export function poolNamespace(pool: KeyPool): string {
  return namespaceOf(pool.baseUrls(), DEFAULT_BASE_URL);
}

type FileHashes = ReadonlyArray<readonly [string, string | null]>;

/** The identity of one job: its request as sent (model, params, record fields), files by content. */
export function jobIdentity(job: PromptJob, settings: IdentitySettings, files?: FileHashes): string {
  const asked = requestBody(job, settings.model, settings.params);
  const body = settings.shape ? settings.shape(job.endpoint, asked) : asked;
  return rowIdentity({
    namespace: settings.namespace,
    endpoint: job.endpoint,
    body,
    ...(files ? { files } : {}),
  });
}

/** A job with its key; only a job that names files waits (for their hashes). */
function keyed(job: PromptJob, settings: IdentitySettings): PromptJob | Promise<PromptJob> {
  if (!job.files) return { ...job, key: jobIdentity(job, settings) };
  const { files } = job;
  return Promise.all(files.map(async (name) => [name, await hashFile(name, settings.guard)] as const)).then(
    (hashes) => ({ ...job, key: jobIdentity(job, settings, hashes) }),
  );
}

/** The jobs with their `key` set: an array stays an array (its size known), a stream stays a stream. */
export async function withIdentities(
  data: PipelineInput<PromptJob>,
  settings: IdentitySettings,
): Promise<PipelineInput<PromptJob>> {
  if (Array.isArray(data)) {
    const jobs = data as PromptJob[];
    const out = jobs.map((job) => keyed(job, settings));
    return out.some((job) => job instanceof Promise) ? Promise.all(out) : (out as PromptJob[]);
  }
  const source = data as AsyncIterable<PromptJob> | Iterable<PromptJob>;
  return (async function* keyedJobs() {
    for await (const job of source) {
      const next = keyed(job, settings);
      yield next instanceof Promise ? await next : next;
    }
  })();
}

/** The tag a position keeps for the merge: its record's id, as JSON. */
export const rowTag = (job: PromptJob): string => JSON.stringify(job.id);

const ID_HEAD = Buffer.from('{"id":');

/** Where the JSON value starting at `from` ends: a string (escapes skipped) or a number. */
function valueEnd(bytes: Buffer, from: number): number {
  if (bytes[from] === 0x22) {
    for (let p = from + 1; p < bytes.length; p++) {
      if (bytes[p] === 0x5c) p++;
      else if (bytes[p] === 0x22) return p + 1;
    }
    return -1;
  }
  let p = from;
  while (p < bytes.length && bytes[p] !== 0x2c && bytes[p] !== 0x7d) p++;
  return p;
}

/**
 * The output line of a position from the stored row of its identity: the row with the position's
 * own id (rows: `id`; Batch format: `custom_id` and `id`). Undefined when the stored row is right as it is.
 */
export function rowLine(format: OutputFormat) {
  return (stored: Buffer, tag: string | undefined, position: number): Buffer | undefined => {
    if (tag === undefined) return undefined;
    if (format === 'batch') {
      const line = JSON.parse(stored.toString('utf8')) as Record<string, unknown>;
      const id = JSON.parse(tag) as string | number;
      return Buffer.from(JSON.stringify({ ...line, id: `batch_req_${position}`, custom_id: String(id) }));
    }
    if (!stored.subarray(0, ID_HEAD.length).equals(ID_HEAD)) return undefined;
    const end = valueEnd(stored, ID_HEAD.length);
    if (end < 0) return undefined;
    const own = Buffer.from(tag, 'utf8');
    if (own.equals(stored.subarray(ID_HEAD.length, end))) return undefined;
    return Buffer.concat([ID_HEAD, own, stored.subarray(end)]);
  };
}
