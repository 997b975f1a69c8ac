/** The chart of a finished run, read back from the `progress.jsonl` its run wrote. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readRunHistory } from '../../src/ui/run-history.js';
import { useTempDir } from '../helpers.js';

const tempDir = useTempDir();
const RUN = 1_800_000_000_000;

async function history(lines: object[], sinceMs = RUN - 50) {
  const dir = await tempDir();
  await writeFile(join(dir, 'progress.jsonl'), lines.map((line) => `${JSON.stringify(line)}\n`).join(''));
  return readRunHistory(dir, sinceMs);
}

describe('the chart of a run read from its directory', () => {
  it('a run of 1.5 s (one line a second at most: its tick and its end, 0.5 s apart) has its point, from its start', async () => {
    const points = await history([
      { run: RUN, t: RUN + 1000, done: 3, failed: 0 },
      { run: RUN, t: RUN + 1500, done: 5, failed: 1 },
    ]);
    expect(points).toEqual([{ t: (RUN + 1000) / 1000, ok: 3, limited: null, errors: 0 }]);
  });

  it('a resumed run starts from zero again; lines before the checkpoint’s start are not its own', async () => {
    const RESUMED = RUN + 10_000;
    const points = await history(
      [
        { run: RUN - 9000, t: RUN - 8000, done: 9, failed: 0 },
        { run: RUN, t: RUN + 1000, done: 2, failed: 0 },
        { run: RUN, t: RUN + 2000, done: 6, failed: 0 },
        { run: RESUMED, t: RESUMED + 2000, done: 4, failed: 2 },
      ],
      RUN,
    );
    expect(points.map((p) => [p.t - RUN / 1000, p.ok, p.errors])).toEqual([
      [1, 2, 0],
      [2, 4, 0],
      [12, 2, 1],
    ]);
  });
});
