/**
 * Sending a record that names files: its files read (each once per request), checked against the
 * endpoint's limits, attached to the body (inline, or by id with `upload`), then sent. With
 * `upload`, the record goes to one organization, the key the pool would lend now; its files are
 * uploaded there once (the cache in the run directory) and every attempt of the request goes only
 * to keys of that organization. Each final outcome (an answer, a 4xx, a file that cannot be sent)
 * first records the hashes of the files it was made from, so a rerun can tell an edited file.
 */
import { stat } from 'node:fs/promises';
import type OpenAI from 'openai';
import { APIError } from 'openai';
import { affinityClient, affinityOf } from '../batch/affinity.js';
import type { Affinity } from '../batch/state.js';
import type { ClientOptions } from '../keys/client.js';
import type { KeyPool } from '../keys/key-pool.js';
import type { Logger } from '../logger.js';
import type { PromptJob } from '../requests/records.js';
import type { TaskContext } from '../workers/types.js';
import { ByteGate } from './byte-gate.js';
import { type FileHashes, HashLog } from './identity.js';
import {
  FileProblem,
  hashFile,
  INLINE_MAX_BYTES,
  type LoadedFile,
  loadFile,
  UPLOAD_MAX_BYTES,
} from './load.js';
import { type Attachment, attachFiles, type FileEndpoint, uploadable } from './parts.js';
import type { ReadGuard } from './read-guard.js';
import { UploadCache } from './uploads.js';

export interface FileInputOptions {
  /** Where relative file names are found, which files may be read (`ReadGuard`). */
  guard: ReadGuard;
  /** The run directory: `file-hashes.jsonl`, `uploads.json`. */
  runDir: string;
  /** Upload PDFs and images once per organization and send them by id. @default false */
  upload?: boolean;
  pool: KeyPool;
  logger: Logger;
  client: ClientOptions;
  /** Bytes of one file sent inline. @default INLINE_MAX_BYTES */
  inlineMaxBytes?: number;
  /** Bytes of one uploaded file. @default UPLOAD_MAX_BYTES */
  uploadMaxBytes?: number;
  /** File bytes held by requests in flight at most (one larger record still goes, alone). @default 256 MB */
  maxBytesInFlight?: number;
}

/** Sends `body` to the endpoint through `client`. */
export type Sender = (client: OpenAI, body: Record<string, unknown>) => Promise<unknown>;

const MB = 1024 * 1024;

/** A 400 naming a file id: the API no longer has that upload (deleted, expired). */
function missingUpload(error: unknown): boolean {
  return (
    error instanceof APIError &&
    (error.status === 400 || error.status === 404) &&
    typeof error.param === 'string' &&
    error.param.endsWith('file_id')
  );
}

/** Files sent inline in one request must together stay under what it may carry. */
function checkTogether(files: readonly LoadedFile[], max: number): void {
  const total = files.reduce((sum, file) => sum + file.bytes.length, 0);
  if (files.length > 1 && total > max) {
    throw new FileProblem(
      'file_too_large',
      `${files.map((f) => f.name).join(', ')}: ${(total / MB).toFixed(1)} MB together is over the ${(max / MB).toFixed(0)} MB one request may carry`,
    );
  }
}

export class FileInputs {
  readonly #opts: FileInputOptions;
  readonly #log: HashLog;
  readonly #uploads: UploadCache | undefined;
  readonly #clients = new Map<string, OpenAI>();
  /** Servers found without `/v1/files` (said once each). */
  readonly #noFiles = new Set<string>();
  readonly #gate: ByteGate;

  private constructor(opts: FileInputOptions, uploads: UploadCache | undefined) {
    this.#opts = opts;
    this.#gate = new ByteGate(opts.maxBytesInFlight ?? 256 * MB);
    this.#log = new HashLog(opts.runDir);
    this.#uploads = uploads;
  }

  static async open(opts: FileInputOptions): Promise<FileInputs> {
    return new FileInputs(opts, opts.upload ? await UploadCache.open(opts.runDir) : undefined);
  }

  /** Uploads made in this run (not found in the cache). */
  get uploaded(): number {
    return this.#uploads?.uploaded ?? 0;
  }

  /**
   * Sends a job with files; resolves to the answer. Throws FileProblem (an error row naming the
   * file), the API's error, or anything else the plain send throws.
   */
  async send(
    job: PromptJob & { files: readonly string[] },
    body: Record<string, unknown>,
    ctx: TaskContext,
    sender: Sender,
    isFinal: (error: unknown) => boolean,
  ): Promise<unknown> {
    const release = await this.#gate.acquire(await this.#sizeOf(job.files), ctx.signal);
    try {
      return await this.#send(job, body, ctx, sender, isFinal);
    } finally {
      release();
    }
  }

  /** The files' bytes on disk (one that cannot be read counts 0: it fails before it is held). */
  async #sizeOf(names: readonly string[]): Promise<number> {
    let total = 0;
    for (const name of names) {
      // A size to wait for room only: reads themselves are bounded by the cap, never by this.
      const info = await stat(this.#opts.guard.pathOf(name)).catch(() => undefined);
      if (info?.isFile()) total += info.size;
    }
    return total;
  }

  async #send(
    job: PromptJob & { files: readonly string[] },
    body: Record<string, unknown>,
    ctx: TaskContext,
    sender: Sender,
    isFinal: (error: unknown) => boolean,
  ): Promise<unknown> {
    const endpoint = job.endpoint as FileEndpoint;
    let loaded: LoadedFile[];
    try {
      loaded = await this.#load(job.files);
    } catch (error) {
      if (error instanceof FileProblem) await this.#record(job, await this.#hashesOnDisk(job.files));
      throw error;
    }
    const hashes: FileHashes = loaded.map((file) => [file.name, file.sha256]);
    try {
      const answer = this.#uploads
        ? await this.#sendUploaded(endpoint, body, loaded, ctx, sender)
        : await this.#sendInline(endpoint, body, loaded, ctx, sender);
      await this.#record(job, hashes);
      return answer;
    } catch (error) {
      if (error instanceof FileProblem || isFinal(error)) await this.#record(job, hashes);
      throw error;
    }
  }

  #record(job: PromptJob, hashes: FileHashes): Promise<void> {
    return this.#log.record(job.index, hashes);
  }

  async #hashesOnDisk(names: readonly string[]): Promise<FileHashes> {
    return Promise.all(
      names.map(
        async (name): Promise<[string, string | null]> => [name, await hashFile(name, this.#opts.guard)],
      ),
    );
  }

  async #load(names: readonly string[]): Promise<LoadedFile[]> {
    const max = this.#uploads
      ? (this.#opts.uploadMaxBytes ?? UPLOAD_MAX_BYTES)
      : (this.#opts.inlineMaxBytes ?? INLINE_MAX_BYTES);
    const files: LoadedFile[] = [];
    for (const name of names) files.push(await loadFile(name, this.#opts.guard, max));
    return files;
  }

  /** Every file inline; together they must stay under what one request may carry. */
  #sendInline(
    endpoint: FileEndpoint,
    body: Record<string, unknown>,
    files: LoadedFile[],
    ctx: TaskContext,
    sender: Sender,
  ): Promise<unknown> {
    checkTogether(files, this.#opts.inlineMaxBytes ?? INLINE_MAX_BYTES);
    return sender(
      ctx.client,
      attachFiles(
        endpoint,
        body,
        files.map((file) => ({ file })),
      ),
    );
  }

  /** Says once per server that it has no `/v1/files`, so its files go inline. */
  #noFilesApi(affinity: Affinity): void {
    const where = affinity.baseURL ?? 'the server';
    if (this.#noFiles.has(where)) return;
    this.#noFiles.add(where);
    this.#opts.logger.warn(`--upload: ${where} has no /v1/files (404); files are sent inline`);
  }

  #clientFor(affinity: Affinity): OpenAI {
    const key = JSON.stringify(affinity);
    let client = this.#clients.get(key);
    if (!client) {
      client = affinityClient(this.#opts.pool, affinity, this.#opts.logger, this.#opts.client);
      this.#clients.set(key, client);
    }
    return client;
  }

  /** The organization of the key the pool would lend now (so records spread as the pool rotates). */
  async #pickAffinity(ctx: TaskContext, model: unknown): Promise<Affinity> {
    const pool = this.#opts.pool;
    const lease = await pool.acquire(
      { ...(typeof model === 'string' ? { model } : {}), tokens: 0, workerId: ctx.workerId },
      ctx.signal,
    );
    pool.release(lease, { outcome: 'cancelled' });
    return affinityOf(lease);
  }

  async #sendUploaded(
    endpoint: FileEndpoint,
    body: Record<string, unknown>,
    files: LoadedFile[],
    ctx: TaskContext,
    sender: Sender,
  ): Promise<unknown> {
    const uploads = this.#uploads as UploadCache;
    const inline = files.filter((file) => !uploadable(endpoint, file));
    const inlineMax = this.#opts.inlineMaxBytes ?? INLINE_MAX_BYTES;
    for (const file of inline) {
      if (file.bytes.length > inlineMax) {
        throw new FileProblem(
          'file_too_large',
          `${file.name}: ${(file.bytes.length / MB).toFixed(1)} MB is over the ${(inlineMax / MB).toFixed(0)} MB a file sent inline may have`,
        );
      }
    }
    checkTogether(inline, inlineMax);
    const affinity = await this.#pickAffinity(ctx, body['model']);
    const client = this.#clientFor(affinity);
    if (!(await uploads.hasFilesApi(affinity, client, ctx.signal))) {
      this.#noFilesApi(affinity);
      return this.#sendInline(endpoint, body, files, ctx, sender);
    }
    for (let attempt = 0; ; attempt++) {
      const attachments: Attachment[] = [];
      for (const file of files) {
        attachments.push(
          uploadable(endpoint, file)
            ? { file, fileId: await uploads.idOf(file, affinity, client, ctx.signal) }
            : { file },
        );
      }
      try {
        return await sender(client, attachFiles(endpoint, body, attachments));
      } catch (error) {
        // An upload the API no longer has: forget it, upload again, once.
        if (attempt > 0 || !missingUpload(error)) throw error;
        for (const file of files) await uploads.forget(affinity, file.sha256);
        this.#opts.logger.warn(
          `${files.map((f) => f.name).join(', ')}: an uploaded file is gone from the API; uploading again`,
        );
      }
    }
  }
}
