/** The results viewer's data: the rows of a run, filtered, searched and paged, from a `RowIndex`. */
import {
  buildRowIndex,
  entryRow,
  type IndexEntry,
  type IndexSource,
  type RowIndex,
  readEntries,
} from './row-index.js';
import type { RowFilter, RowsPage, RowsQuery } from './types.js';

/** The most rows one page may hold. */
export const MAX_PAGE = 200;

/** The query of `GET /api/rows`, from its URL parameters; bad values fall back to the defaults. */
export function parseRowsQuery(params: URLSearchParams): RowsQuery {
  const number = (name: string, fallback: number, max: number) => {
    const value = Number(params.get(name));
    return params.has(name) && Number.isSafeInteger(value) && value >= 0 ? Math.min(value, max) : fallback;
  };
  const filter = params.get('filter') ?? 'all';
  const known =
    filter === 'answered' || filter === 'failed' || filter === 'all' || filter.startsWith('code:');
  return {
    offset: number('offset', 0, Number.MAX_SAFE_INTEGER),
    limit: Math.max(1, number('limit', 50, MAX_PAGE)),
    filter: known ? (filter as RowFilter) : 'all',
    q: (params.get('q') ?? '').trim().slice(0, 200),
  };
}

function keeps(filter: RowFilter, entry: IndexEntry): boolean {
  if (filter === 'all') return true;
  if (filter === 'answered') return entry.code === undefined;
  if (filter === 'failed') return entry.code !== undefined;
  return entry.code === filter.slice('code:'.length);
}

/** Failed items by error code, over an index. */
export function failuresByCode(index: RowIndex): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const entry of index.entries) {
    if (entry.code !== undefined) counts[entry.code] = (counts[entry.code] ?? 0) + 1;
  }
  return counts;
}

export function tokensOf(index: RowIndex): number {
  let tokens = 0;
  for (const entry of index.entries) tokens += entry.tokens;
  return tokens;
}

/** A rebuild waits at least this many times as long as the last one took (at most ~10% of the time reading). */
const COST_FACTOR = 10;

/**
 * Rows of one run. The index is rebuilt only when a file changed, at most once per `minAgeMs`
 * and never more often than ten times what the last build took (a large checkpoint read by the
 * running process must not slow the run); the last search is kept for paging through it.
 */
export class RowReader {
  private index: RowIndex | undefined;
  private builtAt = 0;
  private buildMs = 0;
  private building: Promise<RowIndex> | undefined;
  private search: { signature: string; filter: RowFilter; q: string; entries: IndexEntry[] } | undefined;

  private readonly minAgeMs: number;
  private readonly costFactor: number;

  /** `minAgeMs` @default 2000; `costFactor` (0: none) @default 10 */
  constructor(
    private readonly source: () => IndexSource,
    options: { minAgeMs?: number; costFactor?: number } = {},
  ) {
    this.minAgeMs = options.minAgeMs ?? 2000;
    this.costFactor = options.costFactor ?? COST_FACTOR;
  }

  /**
   * The current index (rebuilt if stale and old enough; `fresh` skips the age limit). When the
   * run's output has just been merged, the index of its lane files is replaced at once: the
   * finished page loads its rows once more, and they must come from the output.
   */
  async current(fresh = false): Promise<RowIndex> {
    // A fresh look must see what is there now: a build begun before it may have read less.
    while (this.building) {
      if (!fresh) return this.building;
      await this.building.catch(() => undefined);
    }
    const source = this.source();
    const age = Date.now() - this.builtAt;
    const switched = this.index !== undefined && (this.index.from === 'output') !== source.merged;
    if (this.index && !fresh && !switched && age < Math.max(this.minAgeMs, this.buildMs * this.costFactor))
      return this.index;
    const started = Date.now();
    this.building = buildRowIndex(source, this.index).finally(() => {
      this.building = undefined;
    });
    const index = await this.building;
    if (index !== this.index) this.buildMs = Date.now() - started;
    this.index = index;
    this.builtAt = Date.now();
    return index;
  }

  private async matching(index: RowIndex, filter: RowFilter, q: string): Promise<IndexEntry[]> {
    const cached = this.search;
    if (cached && cached.signature === index.signature && cached.filter === filter && cached.q === q) {
      return cached.entries;
    }
    let entries = index.entries.filter((entry) => keeps(filter, entry));
    if (q !== '') {
      const needle = q.toLowerCase();
      const found: IndexEntry[] = [];
      // Read file by file, in file order, so each file is read in large blocks.
      const ordered = [...entries].sort((a, b) => a.file - b.file || a.start - b.start);
      await readEntries(index, ordered, (entry, text) => {
        if (text.toLowerCase().includes(needle)) found.push(entry);
        return true;
      });
      entries = found.sort((a, b) => a.i - b.i);
    }
    this.search = { signature: index.signature, filter, q, entries };
    return entries;
  }

  async page(query: RowsQuery): Promise<RowsPage> {
    const index = await this.current();
    const entries = await this.matching(index, query.filter, query.q);
    const slice = entries.slice(query.offset, query.offset + query.limit);
    const rows: RowsPage['rows'] = [];
    await readEntries(index, slice, (entry, text) => {
      const row = entryRow(entry, text);
      rows.push(entry.code === undefined ? { i: entry.i, row } : { i: entry.i, code: entry.code, row });
      return true;
    });
    return { matched: entries.length, offset: query.offset, rows, from: index.from };
  }
}
