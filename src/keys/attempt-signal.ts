/** The waits of a pool request: a backoff sleep, and one attempt's time limit joined to the caller's signal. */
import { AbortError } from '../errors.js';

export const sleep = (ms: number, signal: AbortSignal | undefined) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortError());
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/**
 * The signal of one attempt: aborted by the caller's signal or by the attempt's time limit. One
 * controller and one timer, not `AbortSignal.any([signal, AbortSignal.timeout(ms)])`, which costs
 * 20 µs per request and weak references for the garbage collector (bench/overhead.ts).
 */
export class AttemptSignal {
  readonly #controller = new AbortController();
  readonly #caller: AbortSignal | undefined;
  readonly #timer: NodeJS.Timeout;
  readonly #onAbort = () => this.#controller.abort(this.#caller?.reason);
  timedOut = false;

  constructor(caller: AbortSignal | undefined, timeoutMs: number) {
    this.#caller = caller;
    caller?.addEventListener('abort', this.#onAbort, { once: true });
    this.#timer = setTimeout(() => {
      this.timedOut = true;
      this.#controller.abort(new DOMException(`timed out after ${timeoutMs} ms`, 'TimeoutError'));
    }, timeoutMs);
    // A streamed answer keeps its timer (the whole stream is bounded); it must not hold the process.
    this.#timer.unref();
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** The attempt is over (its body read): no more time limit, no more listening to the caller. */
  done(): void {
    clearTimeout(this.#timer);
    this.#caller?.removeEventListener('abort', this.#onAbort);
  }
}
