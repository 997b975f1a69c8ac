/**
 * The progress line fits the terminal (issue 13): at 80 and 120 columns it is shortened in a fixed
 * order and never cut inside a word; the lines above it are wrapped at words; and "ready" does not
 * count a key denied the run's model (against the simulator over HTTP).
 */
import { describe, expect, it } from 'vitest';
import { formatBarLine } from '../../src/cli/progress.js';
import { cutAtWord, wrapWords } from '../../src/cli/progress-fit.js';
import type { Progress } from '../../src/index.js';
import { runPrompts } from '../../src/prompts/index.js';
import { startSimulator } from '../../src/sim/index.js';
import { collectingLogger, useCleanup, useTempDir } from '../helpers.js';

const cleanup = useCleanup();
const tempDir = useTempDir();

const busy = (over: Partial<Progress> = {}): Progress => ({
  total: 1_250_000,
  done: 431_337,
  failed: 1_204,
  skipped: 12_000,
  inFlight: 64,
  rate: 812.4,
  etaMs: 3_912_000,
  tokens: 48_123_456,
  spentUsd: 12.3456,
  keys: { ready: 14, cooling: 3, exhausted: 2, invalid: 1, denied: 2 },
  blocked: false,
  elapsedMs: 500_000,
  ...over,
});

/** Every word of `line` is a whole word of the full line (nothing cut mid-word). */
function expectWholeWords(line: string, full: string): void {
  const words = new Set(full.split(/[ |]+/));
  for (const word of line.split(/[ |]+/).filter(Boolean))
    expect(words, `"${word}" in "${line}"`).toContain(word);
}

describe('the live progress line at the terminal width', () => {
  it.each([80, 120])('fits %i columns, keeps done/total and the ready keys, cuts no word', (columns) => {
    for (const progress of [
      busy(),
      busy({ blocked: true }),
      (({ spentUsd: _, ...rest }) => ({ ...rest, failed: 0 }))(busy()),
    ]) {
      const full = formatBarLine(progress, 'keys/config.json');
      const line = formatBarLine(progress, 'keys/config.json', columns);
      expect(full.length).toBeGreaterThan(columns);
      expect([...line].length).toBeLessThanOrEqual(columns);
      expect(line).toContain('443337/1250000 done');
      expect(line).toMatch(/keys 14(\/22)? ready/);
      if (progress.blocked) expect(line).toContain('BLOCKED: no usable key');
      // Fields and words of the short forms are short forms of the same facts.
      expectWholeWords(
        line.replace(/\[[#-]+\]/, ''),
        [
          full,
          '48M tok $12.35 keys 14/22 ready 3 cooling 2 exhausted 1 invalid 2 denied (watched) or Ctrl-C — edit keys/config.json',
        ].join(' '),
      );
    }
  });

  it('shortens in order: zero key states first, the failed count and ready keys last', () => {
    const p = busy({ keys: { ready: 4, cooling: 0, exhausted: 0, invalid: 0 }, failed: 7 });
    const wide = formatBarLine(p, undefined, 200);
    expect(wide).toContain('keys 4 ready 0 cooling 0 exhausted 0 invalid');
    const narrower = formatBarLine(p, undefined, wide.length - 1);
    expect(narrower).toContain('keys 4 ready');
    expect(narrower).not.toContain('0 cooling');
    const narrowest = formatBarLine(p, undefined, 40);
    expect(narrowest).toBe('443337/1250000 done | 7 failed');
    expect(formatBarLine(p, undefined, 50)).toBe('443337/1250000 done | 7 failed | keys 4 ready');
  });

  it('wraps a warning line above the bar at words, to 80 and 120 columns', () => {
    const warning =
      'keybatch: key sk-…0002 (group east) rejected: 401 invalid_api_key — Incorrect API key provided; it is taken out of the pool until keys/config.json is saved again';
    for (const columns of [80, 120]) {
      const lines = wrapWords(warning, columns);
      expect(lines.length).toBeGreaterThan(1);
      for (const line of lines) expect([...line].length).toBeLessThanOrEqual(columns);
      expect(lines.map((l) => l.trim()).join(' ')).toBe(warning);
    }
    expect(cutAtWord('one two three', 9)).toBe('one two');
  });
});

describe('"ready" and keys denied the run\'s model', () => {
  it('a key answered model_not_found for the model is counted denied, not ready', async () => {
    const sim = cleanup(
      await startSimulator({
        keys: [{ key: 'sk-test-denied-ok-0001' }, { key: 'sk-test-denied-4o-0002', models: ['gpt-4o'] }],
      }),
    );
    const reports: Progress[] = [];
    const dir = await tempDir();
    await runPrompts(
      {
        key_list: [
          { api_key: 'sk-test-denied-ok-0001', base_url: sim.url },
          { api_key: 'sk-test-denied-4o-0002', base_url: sim.url },
        ],
      },
      Array.from({ length: 6 }, (_, i) => ({ prompt: `p${i}` })),
      {
        output: `${dir}/out.jsonl`,
        model: 'gpt-4o-mini',
        workers: 2,
        handleSignals: false,
        logger: collectingLogger(),
        pool: { watch: false, notify: false },
        onProgress: (p) => reports.push(p),
      },
    );
    const last = reports.at(-1)!;
    expect(last.keys).toMatchObject({ ready: 1, denied: 1 });
  });

  it('a key whose config models leave the model out is counted denied from the first report', async () => {
    const sim = cleanup(
      await startSimulator({ keys: [{ key: 'sk-test-models-a-0001' }, { key: 'sk-test-models-b-0002' }] }),
    );
    const reports: Progress[] = [];
    const dir = await tempDir();
    await runPrompts(
      {
        key_list: [
          { api_key: 'sk-test-models-a-0001', base_url: sim.url },
          { api_key: 'sk-test-models-b-0002', base_url: sim.url, models: ['gpt-4o'] },
        ],
      },
      Array.from({ length: 4 }, (_, i) => ({ prompt: `p${i}` })),
      {
        output: `${dir}/out.jsonl`,
        model: 'gpt-4o-mini',
        handleSignals: false,
        logger: collectingLogger(),
        pool: { watch: false, notify: false },
        onProgress: (p) => reports.push(p),
      },
    );
    expect(reports.length).toBeGreaterThan(0);
    for (const report of reports) expect(report.keys).toMatchObject({ ready: 1, denied: 1 });
    // The key the config keeps to gpt-4o was never sent a gpt-4o-mini request.
    expect(sim.stats().byKey['sk-…0002']).toBeUndefined();
  });
});
