/** One prompt record to one API request to one output row: records, endpoint parameters, sending, rows, Batch-format lines, structured answers. */
export type { Endpoint, OutputFormat } from './endpoint.js';
export type { PromptJob } from './records.js';
export { requestBody, send } from './requests.js';
export type { ErrorRow, PromptRow, SuccessRow, TokenCounts } from './rows.js';
