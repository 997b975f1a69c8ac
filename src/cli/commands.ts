/** The `keybatch` commands other than `run`, one function each, in help order (main.ts adds them). */
import { type Command, Option } from 'commander';
import { MAX_CONCURRENCY } from '../internal.js';
import { nonEmpty, positiveSeconds, wholeNumber } from './args.js';
import { cacheCommand } from './cache.js';
import { demoCommand } from './demo.js';
import { estimateCommand } from './estimate.js';
import { exportCommand } from './export.js';
import { failuresCommand } from './failures.js';
import { keysCommand } from './keys.js';
import { collectParam, endpointOption } from './request-flags.js';
import { collectPath } from './security-flags.js';
import { simulateCommand } from './simulate.js';
import { statusCommand } from './status.js';
import { uiCommand } from './ui.js';
import { workerCommand } from './worker.js';

/** What the actions leave for main: the exit code, and whether errors show their stack. */
export interface State {
  code: number;
  verbose: boolean;
}

/** `keybatch estimate`. */
export function addEstimateCommand(program: Command, state: State): void {
  program
    .command('estimate')
    .description('requests, tokens, cost (online and Batch API) and time of a run; sends nothing')
    .argument('<input>', 'prompts .jsonl, as for run')
    .option('-m, --model <name>', 'model of every request (unless the records name theirs)', nonEmpty)
    .option('-c, --config <file>', 'key pool config, for prices and rpm/tpm (default: as for run)', nonEmpty)
    .option('--batch', 'the run goes through the Batch API (its cost applies; done within 24 h)')
    .option(
      '--max-tokens <n>',
      'output tokens of a request that sets no max_tokens (default: 256)',
      wholeNumber(1),
    )
    .addOption(endpointOption())
    .option('--system <text>', 'system prompt of records that have none')
    .option('--param <key=value>', 'a request parameter, repeatable, as for run', collectParam)
    .option('--params <file>', 'request parameters from a JSON object file', nonEmpty)
    .option('--json', 'as JSON')
    .option('--verbose', 'stack traces on errors')
    .action(async (input: string, flags) => {
      state.code = await estimateCommand(input, flags);
    });
}

/** `keybatch export`. */
export function addExportCommand(program: Command, state: State): void {
  program
    .command('export')
    .description('the parsed answers of a run as a table: one row per output line, one column per property')
    .argument('<output>', 'the output .jsonl of a run (-o)')
    .option('--csv', 'as CSV (the default and only format yet)')
    .addOption(new Option('--format <format>', 'the table format (default: csv)').choices(['csv']))
    .option('-o, --output <file>', 'write the table here (default: stdout)', nonEmpty)
    .option('--verbose', 'stack traces on errors')
    .action(async (output: string, flags) => {
      state.code = await exportCommand(output, flags);
    });
}

/** `keybatch keys`. */
export function addKeysCommand(program: Command, state: State): void {
  program
    .command('keys')
    .description('show the key pool, redacted; --probe asks each key with one cheap request')
    .option(
      '-c, --config <file>',
      'key pool config (default: $KEYBATCH_CONFIG, ./config.json, $OPENAI_API_KEY)',
      nonEmpty,
    )
    .option(
      '--probe',
      'send one max_tokens=1 chat request per key and show what it answered (exit 1: none ok)',
    )
    .option('--json', 'the pool (and probe answers) as JSON')
    .option('-m, --model <name>', 'model to probe with (default: gpt-4o-mini)', nonEmpty)
    .option(
      '--redis <url>',
      'also each key as every process sharing the pool through this Redis knows it (default: $KEYBATCH_REDIS)',
      nonEmpty,
    )
    .option('--verbose', 'stack traces on errors')
    .action(async (flags) => {
      state.code = await keysCommand(flags);
    });
}

/** `keybatch status`. */
export function addStatusCommand(program: Command, state: State): void {
  program
    .command('status')
    .description(
      'done / failed (final, retryable) / pending of a run, from its checkpoint (read-only); exit 0 complete, 1 final failures, 3 incomplete',
    )
    .argument('<output>', 'the output .jsonl of the run (-o)')
    .option('--json', 'as JSON')
    .option(
      '--redis <url>',
      'also the shared key pool: each key as every process sharing it knows it (default: $KEYBATCH_REDIS)',
      nonEmpty,
    )
    .option(
      '-c, --config <file>',
      'with --redis: the config whose keys to show (default: as for run)',
      nonEmpty,
    )
    .option('--verbose', 'stack traces on errors')
    .action(async (output: string, flags) => {
      state.code = await statusCommand(output, flags);
    });
}

/** `keybatch failures`. */
export function addFailuresCommand(program: Command, state: State): void {
  program
    .command('failures')
    .description('the failed items of a run (id, code, final or retryable, message), from its checkpoint')
    .argument('<output>', 'the output .jsonl of the run (-o)')
    .option('--json', 'as JSON')
    .option('--verbose', 'stack traces on errors')
    .action(async (output: string, flags) => {
      state.code = await failuresCommand(output, flags);
    });
}

/** `keybatch ui`. */
export function addUiCommand(program: Command, state: State): void {
  program
    .command('ui')
    .description(
      'serve the dashboard of a run, finished or running, from its checkpoint (read-only) until Ctrl-C',
    )
    .argument('<output>', 'the output .jsonl of the run (-o)')
    .option('--port <n>', 'port on 127.0.0.1 (default: any free port)', wholeNumber(0, 65_535))
    .option('--verbose', 'stack traces on errors')
    .action(async (output: string, flags) => {
      state.code = await uiCommand(output, flags);
    });
}

/** `keybatch worker`. */
export function addWorkerCommand(program: Command, state: State): void {
  program
    .command('worker')
    .description(
      'run the chunks of distributed runs (run --distributed) from Redis until stopped; any number, on any machine, joining or leaving any time',
    )
    .option('--redis <url>', 'the Redis of the runs (default: $KEYBATCH_REDIS)', nonEmpty)
    .option(
      '-c, --config <file>',
      'key pool config (default: $KEYBATCH_CONFIG, ./config.json, $OPENAI_API_KEY)',
      nonEmpty,
    )
    .option(
      '--concurrency <n>',
      `chunks (prompts of a prompt run) run at once (default: 8, at most ${MAX_CONCURRENCY})`,
      wholeNumber(1, MAX_CONCURRENCY),
    )
    .option(
      '--task <module>',
      'a task module this worker may run (repeatable); module runs whose task is not one of these, in the same version, are refused',
      collectPath,
      [],
    )
    .option('--timeout <seconds>', 'time limit of one HTTP attempt (default: the run’s)', positiveSeconds)
    .option('--verbose', 'debug lines, and stack traces on errors')
    .action(async (flags) => {
      state.code = await workerCommand(flags);
    });
}

/** `keybatch cache`. */
export function addCacheCommand(program: Command, state: State): void {
  const cache = program
    .command('cache')
    .description('the response cache (run --cache): its size, and removing old answers');
  const cacheDir = [
    '--cache <dir>',
    'the cache folder (default: $KEYBATCH_CACHE, else $XDG_CACHE_HOME/keybatch, else ~/.cache/keybatch)',
  ] as const;
  cache
    .command('stats')
    .description('entries and size on disk')
    .option(...cacheDir, nonEmpty)
    .option('--json', 'as JSON')
    .option('--verbose', 'stack traces on errors')
    .action(async (flags) => {
      state.code = await cacheCommand('stats', flags);
    });
  cache
    .command('prune')
    .description('remove answers stored longer ago than --older-than')
    .requiredOption('--older-than <age>', 'an age: 30d, 12h, 90m, 45s, 2w', nonEmpty)
    .option(...cacheDir, nonEmpty)
    .option('--json', 'as JSON')
    .option('--verbose', 'stack traces on errors')
    .action(async (flags) => {
      state.code = await cacheCommand('prune', flags);
    });
}

/** `keybatch simulate`. */
export function addSimulateCommand(program: Command, state: State): void {
  program
    .command('simulate')
    .description('run the local OpenAI-compatible simulator until Ctrl-C')
    .option('--port <n>', 'port on 127.0.0.1 (default: any free port)', wholeNumber(0, 65_535))
    .option(
      '--scenario <file>',
      'simulator options as JSON: {keys: [{key, quota?, requestsPerWindow?, …}], latencyMs?, …}',
      nonEmpty,
    )
    .option('--write-config <file>', "write a config.json for the simulator's keys to <file>", nonEmpty)
    .option(
      '--batch-day <seconds>',
      'how long the Batch API day lasts: batches finish within it (default 86400, a real day; e.g. 60 to try --batch in a minute)',
      wholeNumber(1, 86_400),
    )
    .option('--verbose', 'stack traces on errors')
    .action(async (flags) => {
      state.code = await simulateCommand(flags);
    });
}

/** `keybatch demo`. */
export function addDemoCommand(program: Command, state: State): void {
  program
    .command('demo')
    .description('a full run on the embedded simulator, stopped and resumed (files in ./.keybatch-demo/)')
    .option('--verbose', 'debug lines, and stack traces on errors')
    .action(async (flags) => {
      state.code = await demoCommand(flags);
    });
}
