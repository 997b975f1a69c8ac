/**
 * How a run stops before its end. Two ways:
 *
 * - **draining** (the first Ctrl-C, SIGTERM, SIGHUP, `stopSignal`): no new chunks; the chunks in
 *   flight finish and are checkpointed (nothing paid for is thrown away), then the run rejects;
 * - **at once** (`signal`, a second signal, a drain while no key is usable): the requests in flight
 *   are aborted, and what they had is redone by the rerun.
 *
 * Either way the run rejects with an `AbortError` carrying `.stats`. Nothing here ends the process.
 */
import { setMaxListeners } from 'node:events';
import { AbortError } from '../errors.js';
import type { Logger } from '../logger.js';

/** The signals a run handles with `handleSignals`. */
export const STOP_SIGNALS: readonly NodeJS.Signals[] = Object.freeze(['SIGINT', 'SIGTERM', 'SIGHUP']);

export interface RunStopOptions {
  /** Aborts at once. */
  signal?: AbortSignal | undefined;
  /** Drains. */
  stopSignal?: AbortSignal | undefined;
  /** Handle SIGINT, SIGTERM and SIGHUP (first: drain; second: at once). */
  handleSignals: boolean;
  logger: Logger;
  /** Called once when the run starts draining. */
  onDrain?: () => void;
}

export class RunStop {
  /** Aborted to stop at once: every request of every lane listens to it. */
  readonly controller = new AbortController();
  /** Aborted once the run stops in any way (`drainStopsSending`: nothing more is sent). */
  readonly #stopped = new AbortController();
  #drainReason: string | undefined;
  #abortReason: string | undefined;
  #onDrain: (() => void) | undefined;

  constructor() {
    setMaxListeners(0, this.controller.signal);
    setMaxListeners(0, this.#stopped.signal);
  }

  /** Aborted when the run starts stopping (a drain or an abort). */
  get stoppedSignal(): AbortSignal {
    return this.#stopped.signal;
  }

  /** No new chunks are to be taken. */
  get stopping(): boolean {
    return this.#drainReason !== undefined || this.controller.signal.aborted;
  }

  /** Stopping without aborting what is in flight. */
  get draining(): boolean {
    return this.#drainReason !== undefined && !this.controller.signal.aborted;
  }

  get aborted(): boolean {
    return this.controller.signal.aborted;
  }

  /** Stop taking chunks; the ones in flight finish. */
  drain(reason: string): void {
    if (this.#drainReason !== undefined) return;
    this.#drainReason = reason;
    this.#stopped.abort(new AbortError(`stopped (${reason}): nothing more is sent`));
    this.#onDrain?.();
  }

  /** Abort the requests in flight. */
  abort(reason: string): void {
    if (this.controller.signal.aborted) return;
    this.#abortReason = reason;
    this.#stopped.abort(new AbortError(`aborted (${reason})`));
    this.controller.abort(new AbortError(`aborted (${reason})`));
  }

  /** The error a stopped run rejects with (before `.stats` is added), or undefined. */
  error(): AbortError | undefined {
    if (this.#abortReason !== undefined) {
      const after = this.#drainReason ? `${this.#drainReason}, then ` : '';
      return new AbortError(
        `aborted (${after}${this.#abortReason}): the chunks in flight were abandoned; rerun to resume`,
      );
    }
    if (this.#drainReason !== undefined) {
      return new AbortError(
        `stopped (${this.#drainReason}): the chunks in flight finished and are checkpointed; rerun to resume`,
      );
    }
    return undefined;
  }

  /** Listens to the signals and options; returns the function that stops listening. */
  attach(options: RunStopOptions): () => void {
    const { signal, stopSignal, handleSignals, logger } = options;
    this.#onDrain = options.onDrain;
    const onAbort = () => this.abort('signal');
    const onStop = () => this.drain('stopSignal');
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    if (stopSignal?.aborted) onStop();
    else stopSignal?.addEventListener('abort', onStop, { once: true });
    const onSignal = (name: NodeJS.Signals) => {
      if (!this.stopping) {
        this.drain(name);
        logger.warn(`${name}: finishing the chunks in flight, then stopping (a second Ctrl-C aborts them)`);
      } else if (!this.aborted) {
        this.abort(`a second ${name}`);
        logger.warn(`${name} again: aborting the requests in flight`);
      }
    };
    if (handleSignals) for (const name of STOP_SIGNALS) process.on(name, onSignal);
    return () => {
      signal?.removeEventListener('abort', onAbort);
      stopSignal?.removeEventListener('abort', onStop);
      if (handleSignals) for (const name of STOP_SIGNALS) process.off(name, onSignal);
      this.#onDrain = undefined;
    };
  }
}
