/**
 * What a run shows while it goes: on a TTY a live bar (cli-progress) with log lines above it; on
 * anything else a plain line every 5 s; with --quiet no progress, but the library's lines still
 * (the blocked state, key rejections, warnings). The display also owns the logger handed to the
 * library, so its lines never tear the bar.
 */
import { MultiBar, type SingleBar } from 'cli-progress';
import type { Logger, Progress } from '../index.js';
import { formatUsd } from '../internal.js';
import { formatDuration, formatRate } from './format.js';
import { type Fields, fitFields, wrapWords } from './progress-fit.js';

export type DisplayMode = 'tty' | 'plain' | 'quiet';

export interface DisplayOptions {
  mode: DisplayMode;
  /** Debug lines of the library too. */
  verbose: boolean;
  /** The config file to edit when blocked (shown plainly); undefined when no file is watched. */
  configPath: string | undefined;
  /** @default process.stderr */
  stream?: NodeJS.WriteStream;
  /** Plain mode: least time between two lines. @default 5000 */
  plainIntervalMs?: number;
}

export interface Display {
  /** For the library: lines appear above the bar; quiet mode shows them too (debug needs verbose). */
  readonly logger: Logger;
  /** For `onProgress`; undefined in quiet mode. */
  readonly onProgress: ((progress: Progress) => void) | undefined;
  /** How often the library should report progress. */
  readonly progressIntervalMs: number;
  /** Prints `keybatch: <message>` (above the bar, if any), even in quiet mode. */
  line(message: string): void;
  /** Removes the live bar (leaving its last state) and flushes pending lines. Idempotent. */
  stop(): void;
}

/** Which display suits the stream: a bar on a terminal, lines otherwise, nothing when quiet. */
export function displayMode(quiet: boolean, stream: NodeJS.WriteStream = process.stderr): DisplayMode {
  if (quiet) return 'quiet';
  return stream.isTTY ? 'tty' : 'plain';
}

function keyCounts(progress: Progress): string {
  const { ready, cooling, exhausted, invalid, denied } = progress.keys;
  const line = `${ready} ready ${cooling} cooling ${exhausted} exhausted ${invalid} invalid`;
  return denied ? `${line} ${denied} denied` : line;
}

/** The key counts without the zero states, then `3/5 ready`. */
function keyForms(progress: Progress): string[] {
  const { ready, cooling, exhausted, invalid, denied = 0 } = progress.keys;
  const states = { cooling, exhausted, invalid, denied };
  const nonZero = Object.entries(states)
    .filter(([, n]) => n > 0)
    .map(([state, n]) => `${n} ${state}`);
  const all = ready + cooling + exhausted + invalid + denied;
  return [
    `keys ${keyCounts(progress)}`,
    `keys ${[`${ready} ready`, ...nonZero].join(' ')}`,
    `keys ${ready}/${all} ready`,
  ];
}

/** `123k` for large counts. */
function shortCount(n: number): string {
  if (n < 10_000) return String(n);
  if (n < 10_000_000) return `${Math.round(n / 1000)}k`;
  return `${Math.round(n / 1_000_000)}M`;
}

function counted(progress: Progress): string {
  const done = progress.done + progress.skipped;
  return progress.total === undefined ? `${done} done` : `${done}/${progress.total} done`;
}

function eta(progress: Progress): string {
  if (progress.blocked) return 'ETA -';
  return progress.etaMs === undefined ? 'ETA ?' : `ETA ${formatDuration(progress.etaMs)}`;
}

/** What to tell the user while no key is usable. */
export function blockedHint(configPath: string | undefined): string {
  return configPath
    ? `BLOCKED: no usable key, waiting — edit ${configPath} to add or fix a key (it is watched), or Ctrl-C to stop`
    : 'BLOCKED: no usable key, waiting — no config file is watched: Ctrl-C, fix the key, and rerun to resume';
}

/** `spent $0.0123` (or `spent unknown`), when the run reports it. */
const spent = (progress: Progress): string[] =>
  progress.spentUsd === undefined ? [] : [`spent ${formatUsd(progress.spentUsd)}`];

/** The periodic line of a non-TTY run (without the `keybatch: ` prefix). */
export function formatProgressLine(progress: Progress, configPath: string | undefined): string {
  const parts = [
    counted(progress),
    `${progress.failed} failed`,
    formatRate(progress.rate),
    eta(progress),
    `tokens ${progress.tokens}`,
    ...spent(progress),
    `keys ${keyCounts(progress)}`,
  ];
  const line = parts.join(', ');
  return progress.blocked ? `${line}; ${blockedHint(configPath)}` : line;
}

const BAR_WIDTH = 24;

function barText(fraction: number, width: number): string {
  const filled = Math.round(fraction * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
}

/**
 * The live bar's line: a bar, counts, rate, ETA, tokens, key states; the blocked state first.
 * Fitted to `columns` (progress-fit.ts: fields shortened in a fixed order, never a word cut).
 */
export function formatBarLine(
  progress: Progress,
  configPath: string | undefined,
  columns = Number.POSITIVE_INFINITY,
): string {
  const finished = progress.done + progress.skipped + progress.failed;
  const fraction = progress.total ? Math.min(1, finished / progress.total) : 0;
  const money = spent(progress)[0];
  const fields: Fields = {
    bar: [barText(fraction, BAR_WIDTH), barText(fraction, 10), ''],
    count: [counted(progress)],
    failed: progress.failed > 0 ? [`${progress.failed} failed`] : ['0 failed', ''],
    rate: [formatRate(progress.rate), ''],
    eta: [eta(progress), ''],
    tokens: [`tokens ${progress.tokens}`, `${shortCount(progress.tokens)} tok`, ''],
    keys: keyForms(progress),
  };
  if (money) fields.spent = [money, money.replace(/^spent /, ''), ''];
  if (progress.blocked) {
    const where = configPath ? `edit ${configPath} (watched) or Ctrl-C` : 'Ctrl-C, fix, rerun';
    fields.blocked = [blockedHint(configPath), `BLOCKED: no usable key — ${where}`, 'BLOCKED: no usable key'];
  }
  return fitFields(fields, columns);
}

/**
 * The library's lines. Quiet hides only progress and the summary, never what the library says:
 * the blocked state, key rejections, warnings and errors always print; debug lines need --verbose.
 */
function createLogger(verbose: boolean, write: (message: string) => void): Logger {
  return {
    debug: (message) => {
      if (verbose) write(message);
    },
    info: write,
    warn: write,
    error: write,
  };
}

/** The display for one run. */
export function createDisplay(options: DisplayOptions): Display {
  const stream = options.stream ?? process.stderr;
  const write = (message: string) => stream.write(`keybatch: ${message}\n`);
  if (options.mode === 'tty') return ttyDisplay(options, stream, write);
  const quiet = options.mode === 'quiet';
  const interval = options.plainIntervalMs ?? 5000;
  let last = Date.now();
  return {
    logger: createLogger(options.verbose, write),
    onProgress: quiet
      ? undefined
      : (progress) => {
          const now = Date.now();
          if (now - last < interval * 0.9) return;
          last = now;
          write(formatProgressLine(progress, options.configPath));
        },
    progressIntervalMs: interval,
    line: write,
    stop() {},
  };
}

function ttyDisplay(
  options: DisplayOptions,
  stream: NodeJS.WriteStream,
  write: (m: string) => void,
): Display {
  const multibar = new MultiBar({
    stream,
    format: (_options, _params, payload: { line?: string }) => payload.line ?? '',
    hideCursor: true,
    gracefulExit: false,
    clearOnComplete: false,
    fps: 8,
  });
  let bar: SingleBar | undefined;
  let stopped = false;
  // cli-progress turns line wrap off while the bar shows: lines above it are wrapped at words here.
  // One column is kept free: with wrap off, a character in the last column is lost to the line clear.
  const columns = () => (stream.columns || 80) - 1;
  const log = (message: string) => {
    if (stopped || !bar) write(message);
    else multibar.log(`${wrapWords(`keybatch: ${message}`, columns()).join('\n')}\n`);
  };
  return {
    logger: createLogger(options.verbose, log),
    onProgress: (progress) => {
      if (stopped) return;
      const line = formatBarLine(progress, options.configPath, columns());
      const value = progress.done + progress.skipped + progress.failed;
      if (!bar) bar = multibar.create(progress.total ?? 0, value, { line });
      else bar.update(value, { line });
    },
    progressIntervalMs: 250,
    line: log,
    stop() {
      if (stopped) return;
      stopped = true;
      if (bar) {
        multibar.update();
        multibar.stop();
      }
    },
  };
}
