/** runPrompts: prompt records in, one output row per record out, on runPipeline (online) or the Batch API. */
export type { Endpoint } from '../requests/endpoint.js';
export type { ErrorRow, PromptRow, SuccessRow, TokenCounts } from '../requests/rows.js';
export type { BatchLine, MessagesRecord, PromptInput, PromptMessage, PromptRecord } from './input.js';
export { PROMPT_DEFAULTS, type PromptOptions } from './options.js';
export { type RunSummary, runPrompts, type StoppedPromptRun } from './run-prompts.js';
export { readCheckpointCost } from './run-spend.js';
