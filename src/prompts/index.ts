export type { BatchLine, MessagesRecord, PromptInput, PromptMessage, PromptRecord } from './input.js';
export { type Endpoint, PROMPT_DEFAULTS, type PromptOptions } from './options.js';
export type { ErrorRow, PromptRow, SuccessRow, TokenCounts } from './rows.js';
export { type RunSummary, runPrompts, type StoppedPromptRun } from './run-prompts.js';
