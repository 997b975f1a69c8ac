/**
 * `keybatch run <input.jsonl> -o <output.jsonl> …`: runPrompts with a progress display, Ctrl-C
 * handling, an end summary and the exit code. `executeRun` and `reportOutcome` are shared with
 * `keybatch demo`.
 */
import { createReadStream, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { KeybatchError, Progress, PromptOptions, RunSummary } from '../index.js';
import { runPrompts } from '../index.js';
import { EXIT, errorLine, exitCodeOf, keybatchError } from './errors.js';
import { shellQuote } from './format.js';
import { abortOnSigint } from './interrupt.js';
import { createDisplay, type Display, displayMode } from './progress.js';
import { formatSummary, type SummaryInput } from './summary.js';

export interface RunFlags {
  output: string;
  config?: string;
  model?: string;
  system?: string;
  workers?: number;
  concurrency?: number;
  temperature?: number;
  maxTokens?: number;
  /** Milliseconds (the flag is in seconds). */
  waitTimeout?: number;
  fresh?: boolean;
  logDir?: string;
  quiet?: boolean;
  verbose?: boolean;
}

/** What the display and the run itself need; runPrompts' other options come from the flags. */
export type RunSettings = Omit<
  PromptOptions,
  'logger' | 'onProgress' | 'progressIntervalMs' | 'handleSignals' | 'signal'
>;

export interface RunRequest {
  /** config.json path, or undefined for the library's resolution (KEYBATCH_CONFIG, ./config.json, OPENAI_API_KEY). */
  config: string | undefined;
  input: string;
  settings: RunSettings;
  display: Display;
  signal: AbortSignal;
  /** Called with each progress report, after the display. */
  onProgress?: (progress: Progress) => void;
  /** How often progress is reported. @default what the display wants */
  progressIntervalMs?: number;
}

export type RunOutcome =
  | { kind: 'finished'; summary: RunSummary }
  | { kind: 'stopped'; error: KeybatchError; summary: SummaryInput | undefined };

/** Codes with which a run stops early but resumable (exit 3). */
const STOPPED = new Set(['NO_USABLE_KEY', 'ABORTED']);

/** runPrompts over `request`; a resumable stop is an outcome, any other error is thrown. */
export async function executeRun(request: RunRequest): Promise<RunOutcome> {
  const { display } = request;
  const options: PromptOptions = {
    ...request.settings,
    logger: display.logger,
    progressIntervalMs: request.progressIntervalMs ?? display.progressIntervalMs,
    handleSignals: false,
    signal: request.signal,
  };
  const show = display.onProgress;
  const extra = request.onProgress;
  let knownTotal: number | undefined;
  options.onProgress = (progress) => {
    knownTotal = progress.total ?? knownTotal;
    show?.(progress);
    extra?.(progress);
  };
  try {
    const summary = await runPrompts(request.config, request.input, options);
    return { kind: 'finished', summary };
  } catch (error) {
    const own = keybatchError(error);
    if (!own || !STOPPED.has(own.code)) throw error;
    const { summary, stats } = own as KeybatchError & { summary?: SummaryInput; stats?: SummaryInput };
    const partial = summary ?? stats;
    // A stopped run's stats count the records read so far; progress knows the input's size.
    if (partial && knownTotal !== undefined && knownTotal > partial.total) {
      return { kind: 'stopped', error: own, summary: { ...partial, total: knownTotal } };
    }
    return { kind: 'stopped', error: own, summary: partial };
  } finally {
    display.stop();
  }
}

/** Rows of `output` with a top-level `error` (final failures, from this run or an earlier one). */
export async function countErrorRows(output: string): Promise<number> {
  let count = 0;
  const lines = createInterface({ input: createReadStream(output), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) {
    if (!line.includes('"error"')) continue;
    try {
      const row = JSON.parse(line) as unknown;
      if (typeof row === 'object' && row !== null && (row as Record<string, unknown>)['error'] !== undefined)
        count += 1;
    } catch {
      // Not ours to judge: the merge writes whole lines.
    }
  }
  return count;
}

export interface ReportContext {
  quiet: boolean;
  output: string;
  /** How to resume, shown when the run stopped early. */
  resumeCommand: string;
}

function print(lines: string[]): void {
  if (lines.length > 0) process.stderr.write(`${lines.join('\n')}\n`);
}

/** Prints the summary (unless quiet) and the final line; resolves to the exit code. */
export async function reportOutcome(outcome: RunOutcome, context: ReportContext): Promise<number> {
  if (outcome.kind === 'stopped') {
    const { error, summary } = outcome;
    const why = error.code === 'ABORTED' ? 'interrupted' : 'no usable key';
    if (!context.quiet && summary) print(formatSummary(summary, { stopped: why, output: context.output }));
    const message = error.code === 'ABORTED' ? 'interrupted' : errorLine(error);
    print([`keybatch: ${message}; rerun the same command to resume: ${context.resumeCommand}`]);
    return exitCodeOf(error);
  }
  const { summary } = outcome;
  // Rows refused in an earlier run were skipped now, but their `error` rows are in the output too.
  const errorRows = summary.skipped > 0 ? await countErrorRows(summary.output) : summary.failed;
  const earlierFailed = Math.max(0, errorRows - summary.failed);
  if (!context.quiet) print(formatSummary(summary, { output: context.output, earlierFailed }));
  if (errorRows > 0) {
    print([
      `keybatch: ${errorRows} of ${summary.total} items failed; they are in ${summary.output} with "error"`,
    ]);
    return EXIT.failed;
  }
  return EXIT.ok;
}

/** The config file a blocked run should tell the user to edit (display only; the library resolves it). */
export function configPathShown(
  config: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (config) return config;
  if (env['KEYBATCH_CONFIG']) return env['KEYBATCH_CONFIG'];
  return existsSync('config.json') ? 'config.json' : undefined;
}

export function runSettings(flags: RunFlags): RunSettings {
  const settings: RunSettings = { output: flags.output, resume: !flags.fresh };
  if (flags.model !== undefined) settings.model = flags.model;
  if (flags.system !== undefined) settings.system = flags.system;
  if (flags.workers !== undefined) settings.workers = flags.workers;
  if (flags.concurrency !== undefined) settings.concurrency = flags.concurrency;
  if (flags.logDir !== undefined) settings.logDir = flags.logDir;
  const params: Record<string, unknown> = {};
  if (flags.temperature !== undefined) params['temperature'] = flags.temperature;
  if (flags.maxTokens !== undefined) params['max_tokens'] = flags.maxTokens;
  if (Object.keys(params).length > 0) settings.params = params;
  if (flags.waitTimeout !== undefined) settings.pool = { waitTimeoutMs: flags.waitTimeout };
  return settings;
}

/** The command as typed, to rerun; `--fresh` dropped, since a rerun must resume. */
function resumeCommand(): string {
  const args = process.argv.slice(2).filter((arg) => arg !== '--fresh');
  return shellQuote(['keybatch', ...args]);
}

export async function runCommand(input: string, flags: RunFlags): Promise<number> {
  const display = createDisplay({
    mode: displayMode(flags.quiet === true),
    verbose: flags.verbose === true,
    configPath: configPathShown(flags.config),
  });
  const controller = new AbortController();
  const detach = abortOnSigint(controller, display);
  try {
    const outcome = await executeRun({
      config: flags.config,
      input,
      settings: runSettings(flags),
      display,
      signal: controller.signal,
    });
    return await reportOutcome(outcome, {
      quiet: flags.quiet === true,
      output: flags.output,
      resumeCommand: resumeCommand(),
    });
  } finally {
    detach();
    display.stop();
  }
}
