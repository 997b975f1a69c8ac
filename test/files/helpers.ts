import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Simulator } from '../../src/sim/index.js';

/** The fixture folder: docs/a.md, docs/guide/b.txt, scan.pdf (a real one-page PDF), chart.png (a real 2x2 PNG). */
export const FIXTURES = fileURLToPath(new URL('../fixtures/files/', import.meta.url));

/** The fixture paths in sorted path order (code units: uppercase and digits first). */
export const FIXTURE_PATHS = ['chart.png', 'docs/a.md', 'docs/guide/b.txt', 'scan.pdf'];

/** A copy of the fixtures at `<dir>/tree` (tests edit it freely); resolves to its path. */
export async function copyFixtures(dir: string): Promise<string> {
  const tree = join(dir, 'tree');
  await cp(FIXTURES, tree, { recursive: true });
  return tree;
}

/** Model requests (chat or responses) the simulator received, with their key and body. */
export function modelRequests(sim: Simulator): Array<{ key: string | null; body: Record<string, unknown> }> {
  return sim
    .requests()
    .filter((r) => r.path === '/v1/chat/completions' || r.path === '/v1/responses')
    .map((r) => ({ key: r.key, body: r.body as Record<string, unknown> }));
}

/** Every `file_id` a request body names. */
export function fileIds(body: unknown): string[] {
  const ids: string[] = [];
  const visit = (value: unknown) => {
    if (Array.isArray(value)) value.forEach(visit);
    else if (typeof value === 'object' && value !== null) {
      for (const [k, v] of Object.entries(value)) {
        if (k === 'file_id' && typeof v === 'string') ids.push(v);
        else visit(v);
      }
    }
  };
  visit(body);
  return ids;
}
