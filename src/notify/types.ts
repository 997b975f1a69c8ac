import type { Logger } from '../logger.js';

/** The `notify` section of config.json (`base_wait_time` there is `baseWaitTime` here). */
export interface NotifyConfig {
  /** Lark/Feishu custom bot webhook URL. Falls back to the `LARK_HOOK` environment variable. */
  lark?: string;
  /** Slack incoming webhook URL. */
  slack?: string;
  /** Any URL that accepts a JSON POST `{ source, event, message, time, details }`. */
  webhook?: string;
  /**
   * Seconds before the first repeat of a "blocked" notification; each later wait doubles.
   * @default 30
   */
  baseWaitTime?: number;
}

export type NotifyEventKind = 'blocked' | 'resumed' | 'started' | 'finished' | 'crashed';

export interface NotifyEvent {
  kind: NotifyEventKind;
  /** One line for humans; chat targets receive `[keybatch] <message>`. */
  message: string;
  /** Extra data for the generic webhook (JSON-serialized, scrubbed). */
  details?: Record<string, unknown>;
}

export interface NotifierOptions {
  /**
   * Where failed deliveries are reported (`warn`).
   * @default silentLogger
   */
  logger?: Logger;
  /**
   * Applied to every payload string (and every log line) before it leaves: removes secrets.
   * @default the identity
   */
  scrub?: (text: string) => string;
  /**
   * Time limit of one webhook request, in milliseconds.
   * @default 5000
   */
  timeoutMs?: number;
  /**
   * How long `close()` waits, in all, for the deliveries still under way (a run's last "finished"
   * or "crashed" notification) before it gives up on them, saying so in one warn line.
   * @default 3000
   */
  closeTimeoutMs?: number;
  /**
   * Environment read for `LARK_HOOK`.
   * @default process.env
   */
  env?: NodeJS.ProcessEnv;
}
