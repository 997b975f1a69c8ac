/**
 * `--upload`: each distinct file (by content) is uploaded once per organization through
 * `/v1/files` and referenced by id. `uploads.json` in the run directory keeps, per organization
 * (or, for a key without one, per key: a short SHA-256 of it), content hash -> file id, so reruns
 * reuse the uploads. It is written to a temporary name and renamed into place after each upload,
 * and holds no API key. Files live in one organization: the requests that name them must go to
 * keys of that organization only (see `affinityClient`).
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type OpenAI from 'openai';
import { toFile } from 'openai';
import type { Affinity } from '../batch/state.js';
import { KeybatchError } from '../errors.js';
import type { LoadedFile } from './load.js';

export const UPLOADS_FILE = 'uploads.json';

export interface UploadEntry {
  id: string;
  filename: string;
  bytes: number;
  purpose: string;
  uploadedAt: string;
}

interface OrganizationUploads {
  affinity: Affinity;
  files: Record<string, UploadEntry>;
}

interface UploadsJson {
  version: 1;
  organizations: Record<string, OrganizationUploads>;
}

/** The cache's name of an organization (or of the one key without an organization). */
export function affinityKey(affinity: Affinity): string {
  const who = affinity.organization ?? `key:${affinity.keyHash ?? 'unknown'}`;
  return affinity.baseURL ? `${who} ${affinity.baseURL}` : who;
}

/** The purpose an upload of this file gets: `vision` for images, `user_data` for documents. */
export const purposeOf = (file: LoadedFile): string => (file.kind === 'image' ? 'vision' : 'user_data');

/** `uploads.json` of a run directory, and the uploads under way (one per organization and content). */
export class UploadCache {
  readonly path: string;
  #data: UploadsJson;
  #write: Promise<void> = Promise.resolve();
  readonly #pending = new Map<string, Promise<string>>();
  /** Per organization: whether its server has `/v1/files` (asked once, with a GET). */
  readonly #filesApi = new Map<string, Promise<boolean>>();
  /** Uploads made through this cache (not found in it). */
  uploaded = 0;

  private constructor(path: string, data: UploadsJson) {
    this.path = path;
    this.#data = data;
  }

  /** Reads `<runDir>/uploads.json` (none yet: empty). An unreadable one is KeybatchError CHECKPOINT_INVALID. */
  static async open(runDir: string): Promise<UploadCache> {
    const path = join(runDir, UPLOADS_FILE);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return new UploadCache(path, { version: 1, organizations: {} });
      }
      throw error;
    }
    try {
      const data = JSON.parse(text) as UploadsJson;
      if (data?.version !== 1 || typeof data.organizations !== 'object' || data.organizations === null) {
        throw new Error('not a version 1 uploads file');
      }
      return new UploadCache(path, data);
    } catch (error) {
      throw new KeybatchError(
        'CHECKPOINT_INVALID',
        `${path}: ${(error as Error).message}; delete it to upload the files again`,
      );
    }
  }

  get(affinity: Affinity, sha256: string): UploadEntry | undefined {
    return this.#data.organizations[affinityKey(affinity)]?.files[sha256];
  }

  /** Every organization's entries, for tests and status. */
  entries(): Array<{ affinity: Affinity; sha256: string; entry: UploadEntry }> {
    return Object.values(this.#data.organizations).flatMap((org) =>
      Object.entries(org.files).map(([sha256, entry]) => ({ affinity: org.affinity, sha256, entry })),
    );
  }

  /**
   * The id of `file` in the organization of `affinity`: from the cache, or uploaded now through
   * `client` (whose requests go to keys of that organization only) and recorded.
   */
  idOf(file: LoadedFile, affinity: Affinity, client: OpenAI, signal?: AbortSignal): Promise<string> {
    const cached = this.get(affinity, file.sha256);
    if (cached) return Promise.resolve(cached.id);
    const key = `${affinityKey(affinity)}\n${file.sha256}`;
    let pending = this.#pending.get(key);
    if (!pending) {
      pending = this.#upload(file, affinity, client, signal).finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    return pending;
  }

  /**
   * Whether the server of `affinity` has `/v1/files`: a GET of one file, once per organization.
   * A GET is asked, not the upload itself: a 404 on a POST route that never answered reads as a
   * wrong base URL and takes the key out; on a GET it is an answer (vLLM, many proxies have none).
   */
  hasFilesApi(affinity: Affinity, client: OpenAI, signal?: AbortSignal): Promise<boolean> {
    const key = affinityKey(affinity);
    let known = this.#filesApi.get(key);
    if (!known) {
      known = client.files.list({ limit: 1 }, signal ? { signal } : {}).then(
        () => true,
        (error: unknown) => {
          const status = (error as { status?: unknown }).status;
          if (status === 404 || status === 405) return false;
          this.#filesApi.delete(key);
          throw error;
        },
      );
      this.#filesApi.set(key, known);
    }
    return known;
  }

  /** Forgets an upload the API no longer has (the next `idOf` uploads it again). */
  async forget(affinity: Affinity, sha256: string): Promise<void> {
    const org = this.#data.organizations[affinityKey(affinity)];
    if (!org?.files[sha256]) return;
    delete org.files[sha256];
    await this.#save();
  }

  async #upload(file: LoadedFile, affinity: Affinity, client: OpenAI, signal?: AbortSignal): Promise<string> {
    const filename = basename(file.name);
    const purpose = purposeOf(file);
    const created = await client.files.create(
      { file: await toFile(file.bytes, filename, { type: file.mime }), purpose: purpose as 'user_data' },
      signal ? { signal } : {},
    );
    this.uploaded += 1;
    const name = affinityKey(affinity);
    const org = this.#data.organizations[name] ?? { affinity, files: {} };
    this.#data.organizations[name] = org;
    org.files[file.sha256] = {
      id: created.id,
      filename,
      bytes: file.bytes.length,
      purpose,
      uploadedAt: new Date().toISOString(),
    };
    await this.#save();
    return created.id;
  }

  /** Writes go one after another (temp + rename); each resolves when its state is on disk. */
  #save(): Promise<void> {
    const text = `${JSON.stringify(this.#data, null, 1)}\n`;
    const write = this.#write.then(async () => {
      const temp = `${this.path}.tmp-${process.pid}`;
      await writeFile(temp, text);
      await rename(temp, this.path);
    });
    this.#write = write.catch(() => {});
    return write;
  }
}
