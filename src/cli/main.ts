#!/usr/bin/env node
/**
 * The `keybatch` command: argument parsing (commander) and exit codes, thin over the public API.
 * Every command resolves to an exit code; any error becomes one `keybatch: …` line on stderr
 * (with the stack only under --verbose) and the code `exitCodeOf` gives it.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import {
  addCacheCommand,
  addDemoCommand,
  addEstimateCommand,
  addExportCommand,
  addFailuresCommand,
  addKeysCommand,
  addSimulateCommand,
  addStatusCommand,
  addUiCommand,
  addWorkerCommand,
  type State,
} from './commands.js';
import { EXIT, errorDetails, errorLine, exitCodeOf, isCommanderError } from './errors.js';
import { addRunCommand } from './run-command.js';

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

/** The program: shared settings (version, one-line errors, --verbose), then every command in help order. */
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

  addRunCommand(program, state);
  for (const add of [
    addEstimateCommand,
    addExportCommand,
    addKeysCommand,
    addStatusCommand,
    addFailuresCommand,
    addUiCommand,
    addWorkerCommand,
    addCacheCommand,
    addSimulateCommand,
    addDemoCommand,
  ]) {
    add(program, state);
  }
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
