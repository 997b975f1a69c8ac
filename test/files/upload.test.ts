import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UploadCache } from '../../src/files/uploads.js';
import { redactKey } from '../../src/keys/redact.js';
import { globRecords } from '../../src/prompts/glob-records.js';
import { runPrompts } from '../../src/prompts/index.js';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { collectingLogger, useTempDir } from '../helpers.js';
import { FAST_RETRY, MODEL, readRows } from '../prompts/helpers.js';
import { copyFixtures, FIXTURE_PATHS, fileIds } from './helpers.js';

const KEYS = [
  { key: 'sk-files-orga-key-000000001', organization: 'org-a' },
  { key: 'sk-files-orga-key-000000002', organization: 'org-a' },
  { key: 'sk-files-orgb-key-000000003', organization: 'org-b' },
  { key: 'sk-files-orgb-key-000000004', organization: 'org-b' },
];
const ORG_OF = new Map(KEYS.map((k) => [redactKey(k.key), k.organization]));
const PROMPT = 'Describe this file.';

const tempDir = useTempDir();
const sims: Simulator[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((sim) => sim.close()));
});

async function world() {
  const sim = await startSimulator({ keys: KEYS });
  sims.push(sim);
  const dir = await tempDir();
  const base = await copyFixtures(dir);
  const output = join(dir, 'out.jsonl');
  const logger = collectingLogger();
  const config = (orgs: string[]) => ({
    key_list: KEYS.filter((k) => orgs.includes(k.organization)).map((k) => ({
      api_key: k.key,
      organization: k.organization,
      base_url: sim.url,
    })),
  });
  // Every fixture once, then scan.pdf and chart.png named again by other records (the same content).
  const records = [
    ...(await globRecords('**/*', PROMPT, base)),
    ...['one', 'two', 'three', 'four', 'five', 'six'].map((n) => ({
      id: n,
      prompt: `${PROMPT} (${n})`,
      files: ['scan.pdf', 'chart.png'],
    })),
  ];
  const run = (orgs: string[], resume: boolean) =>
    runPrompts(config(orgs), records, {
      output,
      model: MODEL,
      endpoint: 'responses',
      filesDir: base,
      upload: true,
      resume,
      workers: 4,
      concurrency: 4,
      handleSignals: false,
      logger,
      pool: { watch: false, notify: false },
      client: { retry: FAST_RETRY },
    });
  return { sim, dir, output, run, logger };
}

/** The organization holding each uploaded file id, from the run's cache. */
async function holders(output: string): Promise<Map<string, string | undefined>> {
  const cache = await UploadCache.open(`${output}.keybatch`);
  return new Map(cache.entries().map((e) => [e.entry.id, e.affinity.organization]));
}

function checkAffinity(sim: Simulator, held: Map<string, string | undefined>): number {
  let withIds = 0;
  for (const request of sim.requests()) {
    if (request.path !== '/v1/responses') continue;
    const ids = fileIds(request.body);
    if (ids.length === 0) continue;
    withIds += 1;
    const org = ORG_OF.get(request.key ?? '');
    for (const id of ids) expect({ id, org: held.get(id) }).toEqual({ id, org });
    expect(request.organization).toBe(org);
  }
  return withIds;
}

describe('--upload: each distinct file once per organization, requests only to keys of its organization', () => {
  it('uploads once per organization across reruns, and every request naming a file id goes to a key of the organization holding it', async () => {
    const w = await world();
    const total = FIXTURE_PATHS.length + 6;

    // Keys of org-a only: the PDF and the PNG are uploaded to org-a once each (10 records name them).
    await w.run(['org-a'], true);
    expect(w.sim.stats().objects.filesCreated).toBe(2);
    let rows = await readRows(w.output);
    expect(rows.filter((r) => r['error'] !== undefined)).toEqual([]);
    expect(rows).toHaveLength(total);

    // A fresh rerun over keys of org-b only: uploaded to org-b once each; org-a's ids are never sent there.
    await w.run(['org-b'], false);
    expect(w.sim.stats().objects.filesCreated).toBe(4);

    // Both organizations, fresh again: every file is cached in both, nothing is uploaded.
    await w.run(['org-a', 'org-b'], false);
    expect(w.sim.stats().objects.filesCreated).toBe(4);
    rows = await readRows(w.output);
    expect(rows.filter((r) => r['error'] !== undefined)).toEqual([]);

    const held = await holders(w.output);
    expect([...held.values()].sort()).toEqual(['org-a', 'org-a', 'org-b', 'org-b']);
    // The run directory's new files name organizations, never a key.
    for (const name of ['uploads.json', 'file-hashes.jsonl']) {
      const text = await readFile(join(`${w.output}.keybatch`, name), 'utf8');
      for (const k of KEYS) expect(text).not.toContain(k.key);
    }
    // Text files are inlined: records naming only docs/*.md or *.txt carry no id.
    expect(checkAffinity(w.sim, held)).toBe(3 * (2 + 6));
    const uploads = w.sim.stats().objects.byRoute['files.create'] ?? {};
    expect(Object.entries(uploads).reduce((sum, [key, n]) => sum + (ORG_OF.get(key) ? n : 0), 0)).toBe(4);
  });

  it('when the keys of the organization holding the files are rate limited, its requests wait for them instead of moving to another organization', async () => {
    const w = await world();
    await w.run(['org-a'], true);
    expect(w.sim.stats().objects.filesCreated).toBe(2);
    w.sim.resetStats();
    // The next requests on org-a's keys answer 429: the pool would move them to org-b's keys.
    for (const k of KEYS.filter((k) => k.organization === 'org-a')) {
      w.sim.inject({ kind: 'status', status: 429, count: 2, key: k.key, retryAfterMs: 200 });
    }
    await w.run(['org-a', 'org-b'], false);
    const rows = await readRows(w.output);
    expect(rows.filter((r) => r['error'] !== undefined)).toEqual([]);
    const refused = w.sim.requests().filter((r) => r.status === 429);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((r) => ORG_OF.get(r.key ?? '') === 'org-a')).toBe(true);
    checkAffinity(w.sim, await holders(w.output));
    // No request was refused for naming a file its organization does not have.
    expect(w.sim.requests().filter((r) => r.status === 400)).toEqual([]);
  });
});
