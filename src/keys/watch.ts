/**
 * Watches config.json (chokidar, main thread only) and hands every valid version to the pool.
 * Editors that save by writing a temporary file and renaming it over the original work: the
 * directory is watched and events for the file's name are taken, whatever the inode.
 */
import { basename, dirname, resolve } from 'node:path';
import { type FSWatcher, watch } from 'chokidar';
import { ConfigError } from '../errors.js';
import { loadConfigFile, type ParsedConfig } from './config.js';

export interface ConfigWatcherHandlers {
  onConfig(parsed: ParsedConfig): void;
  /** A half-saved, invalid or removed file: reported, the last good config stays. */
  onProblem(error: ConfigError): void;
  /** The file was saved with the same config (e.g. touched to retry keys after a server was fixed). */
  onUnchanged?(): void;
}

/** Coalesces the bursts of events one save makes (truncate + write, or unlink + add). */
const SETTLE_MS = 25;
/**
 * One more look after each load: chokidar throttles repeated `change` events of one file, so the
 * completing write of a half-saved file could otherwise go unseen.
 */
const RECHECK_MS = 250;

export class ConfigWatcher {
  private readonly path: string;
  private readonly watcher: FSWatcher;
  private timer: NodeJS.Timeout | undefined;
  private recheck: NodeJS.Timeout | undefined;
  private lastProblem = '';
  private last = '';
  private loading: Promise<void> = Promise.resolve();

  constructor(
    path: string,
    initial: ParsedConfig,
    private readonly handlers: ConfigWatcherHandlers,
  ) {
    this.path = resolve(path);
    this.last = JSON.stringify(initial.config);
    const name = basename(this.path);
    this.watcher = watch(dirname(this.path), {
      ignoreInitial: true,
      depth: 0,
      atomic: false,
      ignored: (candidate) => candidate !== dirname(this.path) && basename(candidate) !== name,
    });
    const onEvent = (changed: string) => {
      if (resolve(changed) === this.path) this.changed();
    };
    this.watcher.on('add', onEvent).on('change', onEvent).on('unlink', onEvent);
  }

  /** Resolves when the watch is in place (edits after this are seen). */
  ready(): Promise<void> {
    return new Promise((done) => this.watcher.once('ready', () => done()));
  }

  private changed(recheck = true): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.loading = this.loading.then(() => this.load());
      if (recheck) {
        clearTimeout(this.recheck);
        this.recheck = setTimeout(() => this.changed(false), RECHECK_MS);
      }
    }, SETTLE_MS);
  }

  private async load(): Promise<void> {
    try {
      const parsed = await loadConfigFile(this.path);
      const fingerprint = JSON.stringify(parsed.config);
      this.lastProblem = '';
      if (fingerprint === this.last) {
        this.handlers.onUnchanged?.();
        return;
      }
      this.last = fingerprint;
      this.handlers.onConfig(parsed);
    } catch (error) {
      const problem =
        error instanceof ConfigError && error.code === 'CONFIG_MISSING'
          ? new ConfigError(`${this.path}: was removed`, { code: 'CONFIG_MISSING' })
          : error instanceof ConfigError
            ? error
            : new ConfigError(String(error));
      // The same problem seen again on a recheck is not reported twice.
      if (problem.message === this.lastProblem) return;
      this.lastProblem = problem.message;
      this.handlers.onProblem(problem);
    }
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    clearTimeout(this.recheck);
    await this.watcher.close();
    await this.loading;
  }
}
