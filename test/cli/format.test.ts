import { describe, expect, it } from 'vitest';
import { EXIT, errorLine, exitCodeOf } from '../../src/cli/errors.js';
import { formatDuration, shellQuote, table } from '../../src/cli/format.js';
import { formatBarLine, formatProgressLine } from '../../src/cli/progress.js';
import { formatSummary } from '../../src/cli/summary.js';
import {
  AbortError,
  CheckpointMismatchError,
  ConfigError,
  InputError,
  KeybatchError,
  type KeyStatus,
  NoUsableKeyError,
  type Progress,
} from '../../src/index.js';

const progress = (over: Partial<Progress> = {}): Progress => ({
  total: 500,
  done: 100,
  failed: 3,
  skipped: 20,
  inFlight: 8,
  rate: 24.13,
  etaMs: 16_000,
  tokens: 5120,
  keys: { ready: 2, cooling: 1, exhausted: 0, invalid: 1 },
  blocked: false,
  elapsedMs: 5000,
  ...over,
});

describe('progress lines', () => {
  it('a plain line says done/total, failed, rate, ETA, tokens and key states', () => {
    expect(formatProgressLine(progress(), 'config.json')).toBe(
      '120/500 done, 3 failed, 24.1/s, ETA 16s, tokens 5120, keys 2 ready 1 cooling 0 exhausted 1 invalid',
    );
    expect(formatProgressLine(progress({ total: undefined, etaMs: undefined }), undefined)).toMatch(
      /^120 done, 3 failed, 24\.1\/s, ETA \?/,
    );
  });

  it('the blocked state is said plainly, with the config file to edit', () => {
    const blocked = progress({ blocked: true, keys: { ready: 0, cooling: 0, exhausted: 3, invalid: 1 } });
    expect(formatProgressLine(blocked, 'keys/config.json')).toContain(
      'BLOCKED: no usable key, waiting — edit keys/config.json to add or fix a key (it is watched)',
    );
    const bar = formatBarLine(blocked, 'keys/config.json');
    expect(bar).toMatch(
      /^\[#+-+\] 120\/500 done \| BLOCKED: no usable key, waiting — edit keys\/config\.json/,
    );
    expect(bar).toContain('ETA -');
    expect(formatBarLine(blocked, undefined)).toContain('no config file is watched');
  });
});

describe('exit codes', () => {
  it('are chosen by error code, never by message', () => {
    expect(exitCodeOf(new ConfigError('x'))).toBe(EXIT.usage);
    expect(exitCodeOf(new ConfigError('x', { code: 'CONFIG_MISSING' }))).toBe(EXIT.usage);
    expect(exitCodeOf(new InputError('x'))).toBe(EXIT.usage);
    expect(exitCodeOf(new CheckpointMismatchError('x'))).toBe(EXIT.usage);
    expect(exitCodeOf(new KeybatchError('CHECKPOINT_INVALID', 'x'))).toBe(EXIT.usage);
    expect(exitCodeOf(new NoUsableKeyError('x', { code: 'MODEL_UNAVAILABLE' }))).toBe(EXIT.usage);
    expect(exitCodeOf(new NoUsableKeyError('x'))).toBe(EXIT.stopped);
    expect(exitCodeOf(new AbortError())).toBe(EXIT.stopped);
    expect(exitCodeOf(new Error('wrapper', { cause: new NoUsableKeyError('x') }))).toBe(EXIT.stopped);
    expect(exitCodeOf(Object.assign(new Error('no such file'), { code: 'ENOENT', syscall: 'open' }))).toBe(
      EXIT.usage,
    );
    expect(exitCodeOf(new Error('NO_USABLE_KEY CONFIG_INVALID'))).toBe(EXIT.failed);
  });

  it('an error is one line', () => {
    expect(errorLine(new InputError('in.jsonl:3: not valid JSON\n  at line 3'))).toBe(
      'in.jsonl:3: not valid JSON at line 3',
    );
  });
});

describe('text helpers', () => {
  it('durations, tables and shell quoting', () => {
    expect([850, 4200, 16_000, 125_000, 3_720_000].map(formatDuration)).toEqual([
      '850ms',
      '4.2s',
      '16s',
      '2m05s',
      '1h02m',
    ]);
    expect(
      table(
        ['key', 'n', 'g'],
        [
          ['sk-…abcd', '12', '-'],
          ['team', '3', '-'],
        ],
      ),
    ).toEqual(['  key        n  g', '  sk-…abcd  12  -', '  team       3  -']);
    expect(shellQuote(['keybatch', 'run', 'my file.jsonl', "it's"])).toBe(
      `keybatch run 'my file.jsonl' 'it'\\''s'`,
    );
  });

  it('the summary counts failures of an earlier run, and a stopped run its pending items', () => {
    const keys: KeyStatus[] = [
      {
        key: 'sk-…0001',
        state: 'invalid',
        deniedModels: [],
        requests: 2,
        successes: 0,
        inFlight: 0,
        errors: { invalid: 2 },
        tokens: 0,
      },
      {
        key: 'sk-…0002',
        state: 'ready',
        deniedModels: [],
        requests: 170,
        successes: 170,
        inFlight: 0,
        errors: {},
        tokens: 9000,
        cost: { usd: 0.0042, knownUsd: 0.0042, unknownModels: [] },
      },
    ];
    const base = {
      total: 300,
      done: 170,
      failed: 2,
      skipped: 128,
      durationMs: 900,
      errors: { context_length_exceeded: 2 },
      keys,
    };
    const checkpoint = { done: 296, failed: 4, pending: 0 };
    const lines = formatSummary({ ...base, output: 'out.jsonl' }, { output: 'out.jsonl', checkpoint });
    expect(lines).toContain('  done      296 of 300');
    expect(lines).toContain('  failed    4 (context_length_exceeded ×2; 2 from an earlier run)');
    expect(lines).toContain('  skipped   128 (already in the checkpoint, not sent again)');
    expect(lines.at(-2)).toMatch(/^ {2}sk-…0001 +invalid +2 +0 +2 \(invalid ×2\)$/);
    // Each key's cost, when the pool priced its answers.
    expect(lines.at(-1)).toMatch(/^ {2}sk-…0002 +ready +170 +170 +0 +\$0\.004200$/);
    const stopped = formatSummary({ ...base, done: 50 }, { output: 'out.jsonl', stopped: 'no usable key' });
    expect(stopped[0]).toBe('keybatch: stopped after 900ms (no usable key)');
    expect(stopped).toContain('  pending   120');
  });
});
