/**
 * Ctrl-C, SIGTERM and SIGHUP during a run. The first drains the run through its stop controller
 * (no new requests; those in flight finish and are checkpointed; the run then stops, resumable, and
 * the command exits 3). A second one exits at once: 130 for Ctrl-C (128 + the signal's number).
 */
import { constants } from 'node:os';
import type { Display } from './progress.js';

const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export interface StopSignals {
  /** The first signal received, if any. */
  readonly received: NodeJS.Signals | undefined;
  detach(): void;
}

/** The exit code of a process ended by `signal`, as shells report it. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}

/** Listens for the stop signals; the first aborts `stop`, a second exits the process. */
export function stopOnSignals(stop: AbortController, display: Display): StopSignals {
  let received: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (received !== undefined) {
      display.stop();
      process.stderr.write(
        `keybatch: ${signal} again: exiting now; the requests in flight are lost (rerun the same command to resume)\n`,
      );
      process.exit(signalExitCode(signal));
    }
    received = signal;
    if (signal === 'SIGINT') {
      display.line(
        'interrupted: finishing the requests in flight, then stopping (Ctrl-C again exits at once)',
      );
    }
    stop.abort();
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
  return {
    get received() {
      return received;
    },
    detach() {
      for (const signal of SIGNALS) process.off(signal, onSignal);
    },
  };
}
