#!/usr/bin/env node
/**
 * The `keybatch` command: argument parsing (commander) and exit codes, thin over the public API.
 * Every command resolves to an exit code; any error becomes one `keybatch: …` line on stderr
 * (with the stack only under --verbose) and the code `exitCodeOf` gives it.
 */
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { MAX_CONCURRENCY, MAX_WORKERS } from '../internal.js';
import { nonEmpty, nonNegative, positiveSeconds, seconds, wholeNumber } from './args.js';
import { cacheCommand } from './cache.js';
import { demoCommand } from './demo.js';
import { EXIT, errorDetails, errorLine, exitCodeOf, isCommanderError } from './errors.js';
import { estimateCommand } from './estimate.js';
import { exportCommand } from './export.js';
import { failuresCommand } from './failures.js';
import { keysCommand } from './keys.js';
import { collectParam } from './request-flags.js';
import { runCommand } from './run.js';
import { collectPath } from './security-flags.js';
import { simulateCommand } from './simulate.js';
import { statusCommand } from './status.js';
import { uiCommand } from './ui.js';
import { workerCommand } from './worker.js';

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

interface State {
  code: number;
  verbose: boolean;
}

function buildProgram(state: State): Command {
  const program = new Command('keybatch')
    .description(
      'Run large batches of LLM API calls over a pool of API keys, without losing or repeating work.',
    )
    .version(version(), '-V, --version')
    .exitOverride()
    .configureOutput({
      outputError: (text, write) => {
        const line = text
          .trim()
          .replace(/^error: /, '')
          .replace(/\s*\n\s*/g, ' ');
        write(`keybatch: ${line} (see --help)\n`);
      },
    })
    .showSuggestionAfterError(true);
  program.hook('preAction', (_program, action) => {
    state.verbose = action.opts()['verbose'] === true;
  });

  // `-o` is checked in the action, after commander has refused unknown flags: a typo is named first.
  const output = new Option(
    '-o, --output <file>',
    'output .jsonl (required; its checkpoint is <file>.keybatch), or - for stdout (via ./keybatch-stdout.jsonl)',
  ).argParser(nonEmpty);
  const run = program
    .command('run')
    .description('send every prompt of a .jsonl file; one output line per input line, in order; resumable')
    .argument(
      '[input]',
      'prompts .jsonl ({id?, system?, prompt, files?}, {id?, messages} or OpenAI Batch API lines), or - for stdin; none with --glob',
    )
    .addOption(output)
    .option(
      '-c, --config <file>',
      'key pool config (default: $KEYBATCH_CONFIG, ./config.json, $OPENAI_API_KEY)',
      nonEmpty,
    )
    .option(
      '-m, --model <name>',
      'model of every request (required unless Batch API lines name theirs)',
      nonEmpty,
    )
    .option('--system <text>', 'system prompt of records that have none')
    .option(
      '--workers <n>',
      `lanes, each starting its key rotation one key further (default: 4, at most ${MAX_WORKERS})`,
      wholeNumber(1, MAX_WORKERS),
    )
    .option(
      '--concurrency <n>',
      `requests in flight per lane (default: 8, at most ${MAX_CONCURRENCY})`,
      wholeNumber(1, MAX_CONCURRENCY),
    )
    .option('--temperature <x>', 'request temperature', nonNegative)
    .option('--max-tokens <n>', 'request max_tokens (max_output_tokens on responses)', wholeNumber(1))
    .addOption(
      new Option('--endpoint <name>', 'API of prompt and messages records (default: chat)').choices([
        'chat',
        'responses',
        'completions',
        'embeddings',
      ]),
    )
    .option(
      '--param <key=value>',
      'a request parameter, repeatable; the value is JSON when it parses (--param top_p=0.5)',
      collectParam,
    )
    .option('--params <file>', 'request parameters from a JSON object file', nonEmpty)
    .option('--raw', 'keep each whole answer body in its row (raw)')
    .addOption(
      new Option(
        '--format <format>',
        "output lines: rows, or the Batch API's output lines (default: rows)",
      ).choices(['rows', 'batch']),
    )
    .option(
      '--wait-timeout <seconds>',
      'stop (exit 3, resumable) when no key is usable for this long (default: wait)',
      seconds,
    )
    .option(
      '--timeout <seconds>',
      'time limit of one HTTP attempt; a timed-out attempt is retried (default: 600)',
      positiveSeconds,
    )
    .option(
      '--budget <usd>',
      'stop (exit 3, resumable) before the run spends more than this many USD; the checkpoint’s spend counts',
      nonNegative,
    )
    .option(
      '--limit <n>',
      'run only the first N pending items (a sample); rerun without it to continue',
      wholeNumber(1),
    )
    .option(
      '--batch',
      'send the records through the OpenAI Batch API (half the price, answers within 24 h); rerun to resume polling',
    )
    .option(
      '--cancel',
      'with --batch: cancel the batches of this (interrupted) run; nothing new is submitted',
    )
    .option(
      '--poll-interval <seconds>',
      'with --batch: first wait between polls of a batch, backing off up to 8x (default: 30)',
      positiveSeconds,
    )
    .option(
      '--glob <pattern>',
      "instead of an input: one record per matching file ('docs/**/*.{md,pdf}'), in path order; needs --prompt",
      nonEmpty,
    )
    .option('--prompt <text>', 'with --glob: the instruction sent with each file')
    .option(
      '--write-to <dir>',
      'also write each answer to <dir>/<path of its file> (never outside <dir>)',
      nonEmpty,
    )
    .option(
      '--files-from <dir>',
      "records' files may also come from <dir>, repeatable (default: only the input's folder)",
      collectPath,
      [],
    )
    .option(
      '--upload',
      'upload PDFs and images once per organization (cached in the run directory) and send them by file id',
    )
    .option(
      '--redis <url>',
      'the Redis of a shared key pool or a distributed run (default: $KEYBATCH_REDIS)',
      nonEmpty,
    )
    .option(
      '--distributed',
      'be the coordinator: the prompts go to `keybatch worker` processes through --redis; this process keeps checkpoint and output',
    )
    .option(
      '--schema <file>',
      'structured outputs: a JSON Schema file; each answer is checked and kept as "parsed", an invalid one re-asked',
      nonEmpty,
    )
    .option(
      '--reask <n>',
      're-asks of an answer that does not match --schema, then the row fails SCHEMA_INVALID (default: 2)',
      wholeNumber(0),
    )
    .option(
      '--retry-failed',
      'send again the records that failed for good (400s, SCHEMA_INVALID, TRUNCATED, …) with the options given now; answered rows stay',
    )
    .option('--dry-run', 'check input, config and output path, print the estimate, send nothing')
    .option('--fresh', 'start over: ignore and replace the checkpoint')
    .option(
      '--cache <dir>',
      'answer records asked before from this response cache (rows marked cached: true, no cost); add new answers to it',
      nonEmpty,
    )
    .option('--overwrite', 'let -o replace an existing file this run did not write (never the input)')
    .option(
      '--log-dir <dir>',
      'write an audit log (one JSON line per HTTP attempt, keys redacted) here',
      nonEmpty,
    )
    .option(
      '--ui [port]',
      'serve a live dashboard of the run on 127.0.0.1 (default: any free port); prints its URL',
      wholeNumber(0, 65_535),
    )
    .option('--quiet', 'no progress and no summary (warnings, the blocked state and errors still)')
    .option('--verbose', 'debug lines, and stack traces on errors')
    .action(async (input: string | undefined, flags) => {
      const usage = (message: string) => run.error(`error: ${message}`, { code: 'commander.usage' });
      if (input === undefined && flags.glob === undefined) {
        usage("missing the input: give a prompts .jsonl, or --glob '<pattern>' --prompt '<text>'");
      }
      if (input !== undefined && flags.glob !== undefined) usage('give an input .jsonl or --glob, not both');
      if (flags.glob !== undefined && flags.prompt === undefined) usage('--glob needs --prompt <text>');
      if (flags.prompt !== undefined && flags.glob === undefined) usage('--prompt goes with --glob');
      if (flags.output === undefined) {
        run.error(`error: required option '${output.flags}' not specified`, {
          code: 'commander.missingMandatoryOptionValue',
        });
      }
      state.code = await runCommand(input, flags);
    });

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
    .addOption(
      new Option('--endpoint <name>', 'API of prompt and messages records (default: chat)').choices([
        'chat',
        'responses',
        'completions',
        'embeddings',
      ]),
    )
    .option('--system <text>', 'system prompt of records that have none')
    .option('--param <key=value>', 'a request parameter, repeatable, as for run', collectParam)
    .option('--params <file>', 'request parameters from a JSON object file', nonEmpty)
    .option('--json', 'as JSON')
    .option('--verbose', 'stack traces on errors')
    .action(async (input: string, flags) => {
      state.code = await estimateCommand(input, flags);
    });

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

  program
    .command('failures')
    .description('the failed items of a run (id, code, final or retryable, message), from its checkpoint')
    .argument('<output>', 'the output .jsonl of the run (-o)')
    .option('--json', 'as JSON')
    .option('--verbose', 'stack traces on errors')
    .action(async (output: string, flags) => {
      state.code = await failuresCommand(output, flags);
    });

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

  program
    .command('demo')
    .description('a full run on the embedded simulator, stopped and resumed (files in ./.keybatch-demo/)')
    .option('--verbose', 'debug lines, and stack traces on errors')
    .action(async (flags) => {
      state.code = await demoCommand(flags);
    });

  return program;
}

async function main(argv: string[]): Promise<number> {
  const state: State = { code: EXIT.ok, verbose: argv.includes('--verbose') };
  const program = buildProgram(state);
  try {
    await program.parseAsync(argv);
    return state.code;
  } catch (error) {
    // Commander has already printed its one line (outputError) or the help.
    if (!isCommanderError(error)) {
      process.stderr.write(`keybatch: ${errorLine(error)}\n`);
      if (state.verbose) for (const line of errorDetails(error)) process.stderr.write(`${line}\n`);
    }
    return exitCodeOf(error);
  }
}

const code = await main(process.argv);
process.exitCode = code;
// Everything the commands opened is closed by now; this only guards against a stray handle.
setTimeout(() => process.exit(code), 2000).unref();
