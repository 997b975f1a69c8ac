/**
 * A bound on the file bytes held by requests in flight: a record's files are read (and encoded,
 * base64 a third larger) only once the bytes already held leave room for them, so a folder of
 * large PDFs at high concurrency does not hold every one of them in memory at once. One record
 * larger than the whole bound still goes, alone. Waiters are served in arrival order.
 */
export class ByteGate {
  #held = 0;
  readonly #queue: Array<{ bytes: number; grant: () => void }> = [];

  constructor(readonly limit: number) {}

  /** Bytes held now. */
  get held(): number {
    return this.#held;
  }

  /** Waiters queued. */
  get waiting(): number {
    return this.#queue.length;
  }

  /** Resolves (with a release function) once `bytes` may be held; rejects if `signal` aborts first. */
  acquire(bytes: number, signal?: AbortSignal): Promise<() => void> {
    return new Promise((resolve, reject) => {
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        this.#held -= bytes;
        this.#drain();
      };
      const entry = {
        bytes,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          this.#held += bytes;
          resolve(release);
        },
      };
      const onAbort = () => {
        const at = this.#queue.indexOf(entry);
        if (at !== -1) this.#queue.splice(at, 1);
        reject(signal?.reason ?? new Error('aborted'));
        this.#drain();
      };
      if (signal?.aborted) return reject(signal.reason ?? new Error('aborted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(entry);
      this.#drain();
    });
  }

  #fits(bytes: number): boolean {
    return this.#held === 0 || this.#held + bytes <= this.limit;
  }

  #drain(): void {
    while (this.#queue.length > 0 && this.#fits((this.#queue[0] as { bytes: number }).bytes)) {
      (this.#queue.shift() as { grant: () => void }).grant();
    }
  }
}
