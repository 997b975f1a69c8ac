/** The coordinator's view of its workers: their heartbeats, read every `statusIntervalMs`. */
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import type { WorkerBeat } from './names.js';

export interface WorkerStatus {
  /** `host:pid:…` */
  id: string;
  host: string;
  pid: number;
  concurrency: number;
  /** Items of chunks the worker is running now. */
  inFlight: number;
  /** Items it finished for this run. */
  items: number;
  /** Items per second over the last few seconds. */
  rate: number;
  /** Milliseconds since its last heartbeat. */
  lastSeenMs: number;
  /** No heartbeat for a while: stopped or killed (its chunks go back to the queue). */
  gone: boolean;
  /** Why it does not take this run's chunks (another task version, …). */
  refused?: string;
}

/** A worker that has not written for this long is shown as gone. */
export const GONE_AFTER_MS = 5_000;

export class WorkerWatch {
  #beats: WorkerBeat[] = [];
  #timer: NodeJS.Timeout | undefined;
  #reading = false;
  readonly #told = new Map<string, string>();

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly logger: Logger,
  ) {}

  start(intervalMs: number): void {
    void this.refresh();
    this.#timer = setInterval(() => void this.refresh(), intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  workers(now = Date.now()): WorkerStatus[] {
    return this.#beats.map((beat) => {
      const lastSeenMs = Math.max(0, now - beat.at);
      const status: WorkerStatus = {
        id: beat.id,
        host: beat.host,
        pid: beat.pid,
        concurrency: beat.concurrency,
        inFlight: beat.inFlight,
        items: beat.items,
        rate: beat.rate,
        lastSeenMs,
        gone: lastSeenMs > GONE_AFTER_MS,
      };
      if (beat.refused !== undefined) status.refused = beat.refused;
      return status;
    });
  }

  async refresh(): Promise<void> {
    if (this.#reading) return;
    this.#reading = true;
    try {
      const fields = await this.redis.hgetall(this.key);
      const beats: WorkerBeat[] = [];
      for (const text of Object.values(fields)) {
        try {
          beats.push(JSON.parse(text) as WorkerBeat);
        } catch {
          // A beat that is not JSON is not ours: ignored.
        }
      }
      beats.sort((a, b) => a.id.localeCompare(b.id));
      this.#beats = beats;
      this.#tell();
    } catch (error) {
      this.logger.debug(`workers: ${(error as Error).message}`);
    } finally {
      this.#reading = false;
    }
  }

  /** One line when a worker joins, refuses the run, or goes silent. */
  #tell(): void {
    for (const worker of this.workers()) {
      const state = worker.refused ? 'refused' : worker.gone ? 'gone' : 'serving';
      if (this.#told.get(worker.id) === state) continue;
      const before = this.#told.get(worker.id);
      this.#told.set(worker.id, state);
      if (state === 'refused') this.logger.warn(`worker ${worker.id} refused this run: ${worker.refused}`);
      else if (state === 'gone')
        this.logger.warn(
          `worker ${worker.id} silent for ${Math.round(worker.lastSeenMs / 1000)} s; its chunks go back to the queue`,
        );
      else this.logger.info(`worker ${worker.id} ${before === 'gone' ? 'is back' : 'joined'}`);
    }
  }
}
