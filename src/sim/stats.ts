/**
 * Counters and the request log. Keys only ever appear redacted here.
 */
import type { GroupInfo } from './key-table.js';
import type { RecordedRequest, SimGroupStats, SimKeyStats, SimStats } from './types.js';

/** A group's counters (its limiter kind and peak rate are added at snapshot time). */
type GroupCounts = Pick<SimGroupStats, 'admitted' | 'rateLimited' | 'unavailable' | 'tokens'>;

export const REQUEST_LOG_SIZE = 2000;

function bump(counts: Record<string, number>, key: string, by = 1): void {
  counts[key] = (counts[key] ?? 0) + by;
}

function emptyStats(): SimStats {
  return {
    requests: 0,
    successes: 0,
    byStatus: {},
    byKey: {},
    answered: {},
    rateLimited: 0,
    dropped: 0,
    hung: 0,
    objects: {
      filesCreated: 0,
      batchesCreated: 0,
      batchesCancelled: 0,
      byRoute: {},
      touchedBy: Object.create(null),
    },
  };
}

/** What an answer adds to the counters. */
export interface AnswerRecord {
  status: number;
  /** The redacted key, for known keys only. */
  keyLabel: string | null;
  /** The key's rate-limit group label, for model requests of known keys only. */
  groupLabel?: string | null;
  /** The error code of the body, for telling `insufficient_quota` from other 429s. */
  errorCode: string | null;
  /** For successful model answers: the fingerprint and the tokens used. */
  fingerprint?: string;
  tokens?: number;
}

export class StatsRecorder {
  #stats = emptyStats();
  // A Map: fingerprints are arbitrary user text (even `__proto__`).
  #answered = new Map<string, number>();
  #groups = new Map<string, GroupCounts>();

  #keyStats(label: string): SimKeyStats {
    let entry = this.#stats.byKey[label];
    if (!entry) {
      entry = { requests: 0, successes: 0, byStatus: {}, tokens: 0 };
      this.#stats.byKey[label] = entry;
    }
    return entry;
  }

  received(keyLabel: string | null): void {
    this.#stats.requests += 1;
    if (keyLabel !== null) this.#keyStats(keyLabel).requests += 1;
  }

  answered(record: AnswerRecord): void {
    const stats = this.#stats;
    const status = String(record.status);
    const success = record.status >= 200 && record.status < 300;
    bump(stats.byStatus, status);
    if (success) stats.successes += 1;
    if (record.status === 429 && record.errorCode !== 'insufficient_quota') stats.rateLimited += 1;
    if (record.fingerprint !== undefined) {
      this.#answered.set(record.fingerprint, (this.#answered.get(record.fingerprint) ?? 0) + 1);
    }
    if (record.groupLabel) this.#countGroup(record.groupLabel, record);
    if (record.keyLabel === null) return;
    const key = this.#keyStats(record.keyLabel);
    bump(key.byStatus, status);
    if (success) key.successes += 1;
    key.tokens += record.tokens ?? 0;
  }

  #countGroup(label: string, record: AnswerRecord): void {
    let group = this.#groups.get(label);
    if (!group) {
      group = { admitted: 0, rateLimited: 0, unavailable: 0, tokens: 0 };
      this.#groups.set(label, group);
    }
    if (record.status >= 200 && record.status < 300) {
      group.admitted += 1;
      group.tokens += record.tokens ?? 0;
    } else if (record.status === 429 && record.errorCode !== 'insufficient_quota') group.rateLimited += 1;
    else if (record.status === 503) group.unavailable += 1;
  }

  dropped(): void {
    this.#stats.dropped += 1;
  }

  /** A files or batches request: counted per route and key; each id it names remembers the key. */
  objectRequest(route: string, keyLabel: string | null, ids: readonly string[]): void {
    const { objects } = this.#stats;
    const label = keyLabel ?? 'unknown';
    const perKey = objects.byRoute[route] ?? {};
    objects.byRoute[route] = perKey;
    bump(perKey, label);
    for (const id of ids) {
      const keys = objects.touchedBy[id] ?? [];
      objects.touchedBy[id] = keys;
      if (!keys.includes(label)) keys.push(label);
    }
  }

  created(kind: 'filesCreated' | 'batchesCreated' | 'batchesCancelled'): void {
    this.#stats.objects[kind] += 1;
  }

  hung(): void {
    this.#stats.hung += 1;
  }

  /** Copies of the counters; `groups` names each counted group's limiter kind and peak rate. */
  snapshot(groups: ReadonlyMap<string, GroupInfo> = new Map()): SimStats {
    const stats = this.#stats;
    const byKey: Record<string, SimKeyStats> = {};
    for (const [label, entry] of Object.entries(stats.byKey)) {
      byKey[label] = { ...entry, byStatus: { ...entry.byStatus } };
    }
    const { objects } = stats;
    const snapshot: SimStats = {
      ...stats,
      objects: {
        ...objects,
        byRoute: Object.fromEntries(Object.entries(objects.byRoute).map(([r, c]) => [r, { ...c }])),
        touchedBy: Object.fromEntries(Object.entries(objects.touchedBy).map(([id, k]) => [id, [...k]])),
      },
      byStatus: { ...stats.byStatus },
      byKey,
      answered: Object.fromEntries(this.#answered),
    };
    if (this.#groups.size > 0) {
      const byGroup: Record<string, SimGroupStats> = {};
      for (const [label, counts] of this.#groups) {
        const info = groups.get(label);
        byGroup[label] = {
          limiter: info?.limiter ?? 'bucket',
          ...counts,
          peakPerSecond: info?.peakPerSecond ?? null,
        };
      }
      snapshot.byGroup = byGroup;
    }
    return snapshot;
  }

  reset(): void {
    this.#stats = emptyStats();
    this.#answered = new Map();
    this.#groups = new Map();
  }
}

/** The last `REQUEST_LOG_SIZE` requests, in a ring buffer. */
export class RequestLog {
  #entries: RecordedRequest[] = [];
  #next = 0;

  add(entry: RecordedRequest): RecordedRequest {
    if (this.#entries.length < REQUEST_LOG_SIZE) this.#entries.push(entry);
    else this.#entries[this.#next] = entry;
    this.#next = (this.#next + 1) % REQUEST_LOG_SIZE;
    return entry;
  }

  /** Copies, oldest first. */
  list(): RecordedRequest[] {
    const ordered =
      this.#entries.length < REQUEST_LOG_SIZE
        ? this.#entries
        : [...this.#entries.slice(this.#next), ...this.#entries.slice(0, this.#next)];
    return ordered.map((entry) => ({ ...entry }));
  }

  clear(): void {
    this.#entries = [];
    this.#next = 0;
  }
}
