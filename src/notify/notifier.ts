import { type Logger, silentLogger } from '../logger.js';
import { buildPayload, type NotifyTargetKind } from './payload.js';
import { type NotifyTarget, postJson, toTarget } from './post.js';
import { blockedDelayMs, formatDuration, MAX_TIMER_DELAY_MS } from './schedule.js';
import type { NotifierOptions, NotifyConfig, NotifyEvent } from './types.js';

/** Defaults of {@link NotifyConfig} and {@link NotifierOptions}. */
export const NOTIFY_DEFAULTS = Object.freeze({ baseWaitTime: 30, timeoutMs: 5000, closeTimeoutMs: 3000 });

const TARGET_KINDS: readonly NotifyTargetKind[] = ['lark', 'slack', 'webhook'];

interface BlockedState {
  readonly since: number;
  readonly message: string;
  readonly details: Record<string, unknown> | undefined;
  repeats: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Posts run events to the configured webhooks (Lark/Feishu, Slack, a generic JSON webhook).
 *
 * - `send` never rejects: a failed delivery is one `logger.warn` line naming the target kind and host.
 * - Events reach each target in the order they were sent.
 * - While blocked, the "blocked" notification repeats after `baseWaitTime·2^0`, `·2^1`, `·2^2` … seconds.
 * - Timers are `unref()`'d: a notifier never keeps the process alive.
 */
export class Notifier {
  readonly #logger: Logger;
  readonly #scrub: (text: string) => string;
  readonly #timeoutMs: number;
  readonly #closeTimeoutMs: number;
  /** Aborted when `close()` gives up on deliveries still under way. */
  readonly #giveUp = new AbortController();
  /** Targets (labels) whose notifications `close()` gave up on, with how many. */
  readonly #givenUp = new Map<string, number>();
  readonly #env: NodeJS.ProcessEnv;
  #targets: readonly NotifyTarget[] = [];
  #baseWaitTime: number = NOTIFY_DEFAULTS.baseWaitTime;
  #blocked: BlockedState | undefined;
  #closed = false;
  readonly #inFlight = new Set<Promise<void>>();
  /** Last delivery queued per target kind, so each target sees events in order. */
  readonly #tails = new Map<NotifyTargetKind, Promise<void>>();

  /**
   * @param config the `notify` section of config.json; a bad URL or `baseWaitTime` there is
   *   reported with `logger.warn` and ignored (the file is user input and may be reloaded).
   * @param options programmer input: an invalid value throws a `RangeError`/`TypeError`.
   */
  constructor(config: NotifyConfig | undefined, options: NotifierOptions = {}) {
    const timeoutMs = options.timeoutMs ?? NOTIFY_DEFAULTS.timeoutMs;
    if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new RangeError(
        `Expected \`timeoutMs\` to be a finite number > 0, got \`${String(timeoutMs)}\` (${typeof timeoutMs})`,
      );
    }
    const closeTimeoutMs = options.closeTimeoutMs ?? NOTIFY_DEFAULTS.closeTimeoutMs;
    if (typeof closeTimeoutMs !== 'number' || !Number.isFinite(closeTimeoutMs) || closeTimeoutMs < 0) {
      throw new RangeError(
        `Expected \`closeTimeoutMs\` to be a finite number >= 0, got \`${String(closeTimeoutMs)}\` (${typeof closeTimeoutMs})`,
      );
    }
    this.#closeTimeoutMs = Math.min(Math.ceil(closeTimeoutMs), MAX_TIMER_DELAY_MS);
    if (options.scrub !== undefined && typeof options.scrub !== 'function') {
      throw new TypeError(`Expected \`scrub\` to be a function, got ${typeof options.scrub}`);
    }
    this.#timeoutMs = Math.min(Math.ceil(timeoutMs), MAX_TIMER_DELAY_MS);
    this.#logger = options.logger ?? silentLogger;
    this.#scrub = options.scrub ?? ((text) => text);
    this.#env = options.env ?? process.env;
    this.update(config);
  }

  /** Whether any webhook is configured. */
  get enabled(): boolean {
    return this.#targets.length > 0;
  }

  /** Whether a `startBlocked` is in effect (until `stopBlocked` or `close`). */
  get blocked(): boolean {
    return this.#blocked !== undefined;
  }

  /**
   * Applies a reloaded `notify` section. Later sends go to the new targets; a running "blocked"
   * repeat keeps going and takes the new `baseWaitTime` from its next wait on.
   */
  update(config: NotifyConfig | undefined): void {
    const targets: NotifyTarget[] = [];
    for (const kind of TARGET_KINDS) {
      const configured = nonEmpty(config?.[kind]);
      const fromEnv =
        kind === 'lark' && configured === undefined ? nonEmpty(this.#env['LARK_HOOK']) : undefined;
      const url = configured ?? fromEnv;
      if (url === undefined) continue;
      const target = toTarget(kind, url);
      const where = fromEnv === undefined ? `notify.${kind}` : 'LARK_HOOK';
      if (target) targets.push(target);
      else this.#warn(`notify: ignoring ${where}: expected an http(s) URL`);
    }
    let baseWaitTime: number = NOTIFY_DEFAULTS.baseWaitTime;
    const given: unknown = config?.baseWaitTime;
    if (given !== undefined) {
      if (typeof given === 'number' && Number.isFinite(given) && given > 0) baseWaitTime = given;
      else {
        this.#warn(
          `notify: ignoring notify.base_wait_time: expected a number of seconds > 0, got \`${String(given)}\` (${typeof given}); using ${NOTIFY_DEFAULTS.baseWaitTime}`,
        );
      }
    }
    this.#targets = Object.freeze(targets);
    this.#baseWaitTime = baseWaitTime;
  }

  /**
   * Posts `event` to every target. Resolves once each target has answered, failed or timed out;
   * never rejects. After `close()` it sends nothing.
   */
  send(event: NotifyEvent): Promise<void> {
    if (this.#closed || this.#targets.length === 0) return Promise.resolve();
    let deliveries: Promise<void>[];
    try {
      const time = new Date();
      deliveries = this.#targets.map((target) => {
        const body = JSON.stringify(buildPayload(target.kind, event, time, this.#scrub));
        return this.#enqueue(target, body);
      });
    } catch (error) {
      // Only a throwing `scrub` can get here.
      const reason = error instanceof Error ? error.message : String(error);
      this.#warn(`notify: could not build the ${event.kind} notification: ${reason}`);
      return Promise.resolve();
    }
    const all = Promise.all(deliveries).then(() => undefined);
    this.#inFlight.add(all);
    void all.finally(() => this.#inFlight.delete(all));
    return all;
  }

  /**
   * Sends a "blocked" event now and repeats it after `baseWaitTime·2^0`, `·2^1`, `·2^2` … seconds
   * until `stopBlocked`; each repeat says how long it has been blocked. Does nothing while blocked.
   */
  startBlocked(message: string, details?: Record<string, unknown>): void {
    if (this.#closed || this.#blocked) return;
    const state: BlockedState = { since: Date.now(), message, details, repeats: 0, timer: undefined };
    this.#blocked = state;
    void this.send({
      kind: 'blocked',
      message,
      details: { ...details, blockedSince: new Date(state.since).toISOString() },
    });
    this.#scheduleRepeat(state);
  }

  /** If blocked: stops the repeats and sends a "resumed" event saying how long it was blocked. */
  stopBlocked(message: string, details?: Record<string, unknown>): void {
    const state = this.#blocked;
    if (!state) return;
    this.#blocked = undefined;
    clearTimeout(state.timer);
    const blockedForMs = Date.now() - state.since;
    void this.send({
      kind: 'resumed',
      message: `${message} (was blocked for ${formatDuration(blockedForMs)})`,
      details: { ...details, blockedSince: new Date(state.since).toISOString(), blockedForMs },
    });
  }

  /**
   * Cancels the timers and waits for deliveries under way, at most `closeTimeoutMs` in all; then
   * gives up on what is left (one warn line naming the targets). Afterwards nothing is sent.
   */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#blocked) {
      clearTimeout(this.#blocked.timer);
      this.#blocked = undefined;
    }
    const pending = Promise.all([...this.#inFlight]);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), this.#closeTimeoutMs);
    });
    const outcome = await Promise.race([pending, late]);
    clearTimeout(timer);
    if (outcome !== 'late') return;
    this.#giveUp.abort();
    await pending;
    const given = [...this.#givenUp].map(([label, n]) => `${n} to ${label}`);
    this.#warn(
      `notify: timed out at exit: gave up after ${this.#closeTimeoutMs / 1000} s; not delivered: ${given.join(', ') || 'none'}`,
    );
  }

  #scheduleRepeat(state: BlockedState): void {
    const delay = blockedDelayMs(this.#baseWaitTime, state.repeats);
    state.timer = setTimeout(() => this.#repeat(state), delay);
    state.timer.unref();
  }

  #repeat(state: BlockedState): void {
    if (this.#closed || this.#blocked !== state) return;
    state.repeats += 1;
    const blockedForMs = Date.now() - state.since;
    void this.send({
      kind: 'blocked',
      message: `${state.message} (blocked for ${formatDuration(blockedForMs)})`,
      details: {
        ...state.details,
        blockedSince: new Date(state.since).toISOString(),
        blockedForMs,
        repeat: state.repeats,
      },
    });
    this.#scheduleRepeat(state);
  }

  #enqueue(target: NotifyTarget, body: string): Promise<void> {
    const previous = this.#tails.get(target.kind) ?? Promise.resolve();
    const delivery = previous.then(async () => {
      const failure = this.#giveUp.signal.aborted
        ? 'given up'
        : await postJson(target, body, this.#timeoutMs, this.#giveUp.signal);
      if (failure === undefined) return;
      if (this.#giveUp.signal.aborted) {
        this.#givenUp.set(target.label, (this.#givenUp.get(target.label) ?? 0) + 1);
      } else this.#warn(`notify: ${target.label} failed: ${failure}`);
    });
    this.#tails.set(target.kind, delivery);
    void delivery.finally(() => {
      if (this.#tails.get(target.kind) === delivery) this.#tails.delete(target.kind);
    });
    return delivery;
  }

  #warn(line: string): void {
    try {
      this.#logger.warn(this.#scrub(line));
    } catch {
      // A logger or scrub that throws must not break a run over a notification.
    }
  }
}

function nonEmpty(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}
