/** `keybatch run`: its flags in help order, grouped by what they set, and the usage checks of its action. */
import { type Command, Option } from 'commander';
import { MAX_CONCURRENCY, MAX_WORKERS } from '../internal.js';
import { nonEmpty, nonNegative, positiveSeconds, seconds, wholeNumber } from './args.js';
import type { State } from './commands.js';
import { collectParam, endpointOption } from './request-flags.js';
import { runCommand } from './run.js';
import { collectPath } from './security-flags.js';

/** The flags the usage checks read. */
interface RunFlags {
  glob?: string;
  prompt?: string;
  output?: string;
}

/** The pool and the lanes: config, model, system prompt, workers, concurrency. */
function poolFlags(command: Command): Command {
  return command
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
    );
}

/** What each request sends, and the shape of the rows. */
function requestFlags(command: Command): Command {
  return command
    .option('--temperature <x>', 'request temperature', nonNegative)
    .option('--max-tokens <n>', 'request max_tokens (max_output_tokens on responses)', wholeNumber(1))
    .addOption(endpointOption())
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
    );
}

/** When a run stops or waits: key wait, HTTP timeout, budget, sample size. */
function limitFlags(command: Command): Command {
  return command
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
    );
}

/** The Batch API backend. */
function batchFlags(command: Command): Command {
  return command
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
    );
}

/** File inputs: --glob, --write-to, --files-from, --upload. */
function fileFlags(command: Command): Command {
  return command
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
    );
}

/** A shared pool and a distributed run; structured outputs. */
function sharingFlags(command: Command): Command {
  return command
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
    );
}

/** What a rerun does: retry failures, dry run, fresh start, cache, overwrite. */
function rerunFlags(command: Command): Command {
  return command
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
    .option('--overwrite', 'let -o replace an existing file this run did not write (never the input)');
}

/** What the run shows and logs: audit log, dashboard, quiet, verbose. */
function displayFlags(command: Command): Command {
  return command
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
    .option('--verbose', 'debug lines, and stack traces on errors');
}

/** The usage errors commander cannot see: the input or --glob (with --prompt), and -o. */
function checkRunUsage(run: Command, output: Option, input: string | undefined, flags: RunFlags): void {
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
}

/** `keybatch run`: the flags in help order, then the usage checks, then the run. */
export function addRunCommand(program: Command, state: State): void {
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
    .addOption(output);
  displayFlags(
    rerunFlags(sharingFlags(fileFlags(batchFlags(limitFlags(requestFlags(poolFlags(run))))))),
  ).action(async (input: string | undefined, flags) => {
    checkRunUsage(run, output, input, flags);
    state.code = await runCommand(input, flags);
  });
}
