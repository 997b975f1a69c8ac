/** Webhook notifications (Lark/Feishu, Slack, a generic JSON webhook) for run events. */

export { NOTIFY_DEFAULTS, Notifier } from './notifier.js';
export { buildPayload, type NotifyTargetKind } from './payload.js';
export { blockedDelayMs, blockedSchedule, formatDuration } from './schedule.js';
export type { NotifierOptions, NotifyConfig, NotifyEvent, NotifyEventKind } from './types.js';
