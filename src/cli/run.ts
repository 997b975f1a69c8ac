/**
 * `keybatch run <input.jsonl> -o <output.jsonl> …`: runPrompts with a progress display, Ctrl-C
 * handling, an end summary and the exit code. `executeRun` and `reportOutcome` are shared with
 * `keybatch demo`.
 */
import { existsSync } from 'node:fs';
import type {
  KeybatchError,
  KeyPool,
  Progress,
  PromptInput,
  PromptOptions,
  RunStatus,
  RunSummary,
} from '../index.js';
import { globRecords, InputError, readRunStatus, runPrompts } from '../index.js';
import { EXIT, errorLine, exitCodeOf, keybatchError } from './errors.js';
import { dryRunCommand } from './estimate.js';
import { shellQuote } from './format.js';
import { stopOnSignals } from './interrupt.js';
import { createDisplay, type Display, displayMode } from './progress.js';
import { redactRedisUrl } from './redact-url.js';
import { readParamsFile, requestParams } from './request-flags.js';
import { readSchemaFile } from './schema-file.js';
import { STDOUT_OUTPUT, stdinInput, writeOutputToStdout } from './stdio.js';
import { formatSummary, type SummaryInput } from './summary.js';
import { openRunDashboard } from './ui.js';
import { redisUrl, workersLine, workersReporter } from './worker.js';

export interface RunFlags {
  output: string;
  config?: string;
  model?: string;
  system?: string;
  workers?: number;
  concurrency?: number;
  temperature?: number;
  maxTokens?: number;
  /** `--endpoint`: where prompt and messages records go. */
  endpoint?: PromptOptions['endpoint'];
  /** `--param key=value`, each parsed (collectParam). */
  param?: Array<[string, unknown]>;
  /** `--params file.json`. */
  params?: string;
  /** `--raw`: each whole answer body in its row. */
  raw?: boolean;
  /** `--format rows|batch`. */
  format?: PromptOptions['format'];
  /** Milliseconds (the flag is in seconds). */
  waitTimeout?: number;
  /** Per HTTP attempt, milliseconds (the flag is in seconds). */
  timeout?: number;
  /** `--budget <usd>`: stop before spending more (exit 3, resumable). */
  budget?: number;
  /** `--limit <n>`: run only the first N pending items. */
  limit?: number;
  /** `--batch`: the Batch API backend. */
  batch?: boolean;
  /** `--cancel` (with `--batch`): cancel the run's batches. */
  cancel?: boolean;
  /** `--poll-interval`, milliseconds (the flag is in seconds). */
  pollInterval?: number;
  /** `--dry-run`: check, estimate, send nothing. */
  dryRun?: boolean;
  fresh?: boolean;
  /** `--cache <dir>`: the response cache. */
  cache?: string;
  overwrite?: boolean;
  logDir?: string;
  quiet?: boolean;
  verbose?: boolean;
  /** Serve the live dashboard: `true` for any free port, or this port. */
  ui?: boolean | number;
  /** `--glob <pattern>`: one record per matching file (instead of an input file). */
  glob?: string;
  /** `--prompt <text>`: the prompt of every --glob record. */
  prompt?: string;
  /** `--write-to <dir>`: each answer also written to `<dir>/<path>`. */
  writeTo?: string;
  /** `--files-from <dir>` (repeatable): more folders records' files may come from. */
  filesFrom?: string[];
  /** `--upload`: PDFs and images uploaded once per organization, sent by id. */
  upload?: boolean;
  /** `--redis <url>` (else `KEYBATCH_REDIS`). */
  redis?: string;
  /** `--distributed`: be the coordinator of a distributed run over `--redis`. */
  distributed?: boolean;
  /** `--schema <file>`: structured outputs against this JSON Schema file. */
  schema?: string;
  /** `--reask <n>`: re-asks of an invalid structured answer. */
  reask?: number;
  /** `--retry-failed`: send the final failures again, with the options given now. */
  retryFailed?: boolean;
}

/** What the display and the run itself need; runPrompts' other options come from the flags. */
export type RunSettings = Omit<
  PromptOptions,
  'logger' | 'onProgress' | 'progressIntervalMs' | 'handleSignals' | 'signal' | 'stopSignal'
>;

export interface RunRequest {
  /** config.json path, or undefined for the library's resolution (KEYBATCH_CONFIG, ./config.json, OPENAI_API_KEY). */
  config: string | KeyPool | undefined;
  /** A .jsonl path, or the records themselves (--glob). */
  input: string | PromptInput[];
  settings: RunSettings;
  display: Display;
  /** Stops the run gracefully: no new requests, those in flight finish and are checkpointed. */
  stopSignal: AbortSignal;
  /** Called with each progress report, after the display. */
  onProgress?: (progress: Progress) => void;
  /** How often progress is reported. @default what the display wants */
  progressIntervalMs?: number;
}

export type RunOutcome =
  | { kind: 'finished'; summary: RunSummary }
  | { kind: 'stopped'; error: KeybatchError; summary: SummaryInput | undefined };

/** Codes with which a run stops early but resumable (exit 3). */
const STOPPED = new Set(['NO_USABLE_KEY', 'ABORTED', 'BUDGET_REACHED', 'LIMIT_REACHED']);

/** runPrompts over `request`; a resumable stop is an outcome, any other error is thrown. */
export async function executeRun(request: RunRequest): Promise<RunOutcome> {
  const { display } = request;
  const options: PromptOptions = {
    ...request.settings,
    logger: display.logger,
    progressIntervalMs: request.progressIntervalMs ?? display.progressIntervalMs,
    handleSignals: false,
    stopSignal: request.stopSignal,
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

/**
 * Done, failed and pending over the whole checkpoint, read as `keybatch status` reads them (an
 * earlier run's failures count as failed, not done); undefined when there is no checkpoint yet.
 */
export async function checkpointCounts(output: string): Promise<RunStatus | undefined> {
  try {
    return await readRunStatus(output);
  } catch {
    return undefined;
  }
}

export interface ReportContext {
  quiet: boolean;
  output: string;
  /** How to resume, shown when the run stopped early. */
  resumeCommand: string;
  /** The signal that stopped the run, if one did. */
  signal?: NodeJS.Signals | undefined;
}

/** Why a stopped run stopped, in a few words. */
function stopReason(error: KeybatchError, signal: NodeJS.Signals | undefined): string {
  if (error.code === 'BUDGET_REACHED') return 'budget reached';
  if (error.code === 'LIMIT_REACHED') return 'limit reached';
  if (error.code !== 'ABORTED') return 'no usable key';
  return signal === undefined || signal === 'SIGINT' ? 'interrupted' : `stopped by ${signal}`;
}

function print(lines: string[]): void {
  if (lines.length > 0) process.stderr.write(`${lines.join('\n')}\n`);
}

/** Prints the summary (unless quiet) and the final line; resolves to the exit code. */
export async function reportOutcome(outcome: RunOutcome, context: ReportContext): Promise<number> {
  // The counts of the whole checkpoint, as `keybatch status` gives them, so both always agree.
  const counts = await checkpointCounts(context.output);
  if (outcome.kind === 'stopped') {
    const { error, summary } = outcome;
    const why = stopReason(error, context.signal);
    if (!context.quiet && summary) {
      print(formatSummary(summary, { stopped: why, output: context.output, checkpoint: counts }));
    }
    const message = error.code === 'ABORTED' ? why : errorLine(error);
    print([`keybatch: ${message}; rerun the same command to resume: ${context.resumeCommand}`]);
    return exitCodeOf(error);
  }
  const { summary } = outcome;
  if (!context.quiet) print(formatSummary(summary, { output: context.output, checkpoint: counts }));
  const failed = counts?.failed ?? summary.failed;
  if (failed > 0) {
    print([
      `keybatch: ${failed} of ${summary.total} items failed; they are in ${summary.output} with "error"`,
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

/** Why `--budget` and `--batch` do not go together (the README says the same). */
const BUDGET_WITH_BATCH =
  '--budget cannot be used with --batch: a batch is billed for all its rows once submitted, so a cap could only be kept by holding back each shard’s whole estimate, which is not built; see the cost first with keybatch estimate <input> --batch';

export function runSettings(
  flags: RunFlags,
  paramsFile?: Record<string, unknown>,
  schema?: Record<string, unknown>,
): RunSettings {
  if (flags.budget !== undefined && flags.batch === true) throw new InputError(BUDGET_WITH_BATCH);
  const settings: RunSettings = { output: flags.output, resume: !flags.fresh };
  if (schema !== undefined) settings.schema = schema;
  if (flags.reask !== undefined) settings.reask = flags.reask;
  if (flags.retryFailed === true) settings.retryFailed = true;
  if (flags.endpoint !== undefined) settings.endpoint = flags.endpoint;
  if (flags.raw === true) settings.raw = true;
  if (flags.format !== undefined) settings.format = flags.format;
  if (flags.model !== undefined) settings.model = flags.model;
  if (flags.system !== undefined) settings.system = flags.system;
  if (flags.workers !== undefined) settings.workers = flags.workers;
  if (flags.concurrency !== undefined) settings.concurrency = flags.concurrency;
  if (flags.logDir !== undefined) settings.logDir = flags.logDir;
  if (flags.cache !== undefined) settings.cache = flags.cache;
  const params = requestParams(paramsFile, flags);
  if (Object.keys(params).length > 0) settings.params = params;
  if (flags.waitTimeout !== undefined) settings.pool = { waitTimeoutMs: flags.waitTimeout };
  if (flags.timeout !== undefined) settings.client = { timeoutMs: flags.timeout };
  if (flags.overwrite === true) settings.overwrite = true;
  if (flags.budget !== undefined) settings.budgetUsd = flags.budget;
  if (flags.limit !== undefined) settings.limit = flags.limit;
  if (flags.batch === true) settings.backend = 'batch';
  if (flags.cancel === true) settings.cancel = true;
  if (flags.pollInterval !== undefined) settings.pollIntervalMs = flags.pollInterval;
  if (flags.writeTo !== undefined) settings.writeTo = flags.writeTo;
  if (flags.upload === true) settings.upload = true;
  if (flags.filesFrom !== undefined && flags.filesFrom.length > 0) settings.filesFrom = flags.filesFrom;
  // --redis shares the key pool with every process on that Redis (KEYBATCH_REDIS does, in the pool).
  if (flags.redis !== undefined) settings.pool = { ...settings.pool, shared: { url: flags.redis } };
  if (flags.distributed === true) {
    const redis = redisUrl(flags.redis);
    if (redis === undefined) throw new InputError('--distributed needs --redis <url> (or KEYBATCH_REDIS)');
    settings.distributed = { redis };
  }
  return settings;
}

/**
 * The command as typed, to rerun; `--fresh`, `--retry-failed` and `--cancel` dropped, since a rerun
 * goes on from where this one stopped. A Redis password is shown as `***` (put it in
 * KEYBATCH_REDIS to rerun without typing it).
 */
export function resumeCommand(argv: readonly string[] = process.argv): string {
  const dropped = new Set(['--fresh', '--retry-failed', '--cancel']);
  const args = argv
    .slice(2)
    .filter((arg) => !dropped.has(arg))
    .map(redactRedisUrl);
  return shellQuote(['keybatch', ...args]);
}

/**
 * `keybatch run`. `-o -`: the output is written to ./keybatch-stdout.jsonl (checkpoint and resume as
 * for any -o) and copied to stdout once the run has finished; nothing else goes to stdout. `-` as
 * input: stdin is read whole into the run directory first, then run as a file.
 */
export async function runCommand(input: string | undefined, given: RunFlags): Promise<number> {
  if (given.glob !== undefined) {
    if (given.dryRun) throw new InputError('--dry-run does not take --glob yet: give an input .jsonl');
    const flags: RunFlags = given.output === '-' ? { ...given, output: STDOUT_OUTPUT } : given;
    // keybatch's own files are never records: the output, its run directory, the answers, the key pool.
    const own = [flags.output, `${flags.output}.keybatch`, flags.writeTo, configPathShown(flags.config)];
    const records = await globRecords(given.glob, given.prompt ?? '', process.cwd(), {
      exclude: own.filter((path): path is string => path !== undefined),
    });
    const paramsFile = flags.params === undefined ? undefined : await readParamsFile(flags.params);
    const code = await runFile(records, flags, paramsFile, undefined);
    if (given.output === '-' && (code === EXIT.ok || code === EXIT.failed))
      await writeOutputToStdout(flags.output);
    return code;
  }
  if (input === undefined) throw new InputError('run needs an input .jsonl, or --glob and --prompt');
  if (given.dryRun) return dryRunCommand(input, given);
  const toStdout = given.output === '-';
  const flags: RunFlags = toStdout ? { ...given, output: STDOUT_OUTPUT } : given;
  const paramsFile = flags.params === undefined ? undefined : await readParamsFile(flags.params);
  const stdin = input === '-' ? await stdinInput(flags.output) : undefined;
  try {
    const code = await runFile(stdin?.path ?? input, flags, paramsFile, stdin?.path);
    if (toStdout && (code === EXIT.ok || code === EXIT.failed)) await writeOutputToStdout(flags.output);
    return code;
  } finally {
    await stdin?.remove();
  }
}

async function runFile(
  input: string | PromptInput[],
  flags: RunFlags,
  paramsFile: Record<string, unknown> | undefined,
  stdinPath: string | undefined,
): Promise<number> {
  // Checked before anything starts: a bad schema file is one line and exit 2, nothing sent.
  const schema = flags.schema === undefined ? undefined : await readSchemaFile(flags.schema);
  const display = createDisplay({
    mode: displayMode(flags.quiet === true),
    verbose: flags.verbose === true,
    configPath: configPathShown(flags.config),
  });
  const stop = new AbortController();
  const settings = runSettings(flags, paramsFile, schema);
  // Records read from stdin name their files from the current folder (stdin is copied into the run
  // directory, whose files are never read as inputs).
  if (stdinPath !== undefined && settings.filesDir === undefined) settings.filesDir = process.cwd();
  const ui =
    flags.ui === undefined || flags.ui === false
      ? undefined
      : await openRunDashboard(flags.ui, flags.config, flags.output, settings.pool ?? {}, display);
  const signals = stopOnSignals(stop, display);
  // A distributed run: a line on its workers when who serves changes (and in the summary).
  const workers =
    settings.distributed && flags.quiet !== true ? workersReporter((l) => display.line(l)) : undefined;
  const onProgress =
    ui && workers
      ? (p: Progress) => {
          ui.onProgress(p);
          workers(p);
        }
      : (ui?.onProgress ?? workers);
  let finished = false;
  try {
    const outcome = await executeRun({
      config: ui?.pool ?? flags.config,
      input,
      settings,
      display,
      stopSignal: stop.signal,
      ...(onProgress ? { onProgress } : {}),
      ...(ui ? { progressIntervalMs: ui.progressIntervalMs } : {}),
    }).catch((error: unknown) => {
      // Lines of stdin are named `stdin:3`, not by the file they were copied to.
      if (stdinPath && error instanceof Error) error.message = error.message.replaceAll(stdinPath, 'stdin');
      throw error;
    });
    finished = outcome.kind === 'finished';
    const distributed = outcome.kind === 'finished' ? outcome.summary.distributed : undefined;
    if (distributed && flags.quiet !== true) {
      const line = workersLine(distributed);
      const dups =
        distributed.duplicates > 0 ? `; ${distributed.duplicates} duplicate result(s) discarded` : '';
      if (line) process.stderr.write(`${line}${dups}\n`);
    }
    return await reportOutcome(outcome, {
      quiet: flags.quiet === true,
      output: flags.output,
      resumeCommand: resumeCommand(),
      signal: signals.received,
    });
  } finally {
    await ui?.close(finished ? 'finished' : 'stopped');
    signals.detach();
    display.stop();
  }
}
