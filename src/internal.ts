/**
 * The one internal entry: what the CLI (src/cli) uses beyond the public API (src/index.ts) and the
 * subpath entries. Not a package export: names here may change in any release. The layer rules
 * (.dependency-cruiser.cjs) let src/cli import only the public entries and this file.
 */
export { type BatchStatus, batchLines, readBatchStatus } from './batch/status.js';
export {
  checkOutputOwner,
  checkOutputPath,
  finalErrorCode,
  type OutputRecord,
  readManifest,
  readResults,
  scanRunDir,
} from './checkpoint/index.js';
export { type KeyConfig, loadConfigFile, type ParsedConfig, parseConfig } from './keys/config.js';
export { formatLearned } from './keys/pacing/learned.js';
export { readSharedPool, sharedRows } from './keys/shared/report.js';
export { MAX_CONCURRENCY, MAX_WORKERS } from './pipeline/options.js';
export { defaultRunDir } from './pipeline/status.js';
export { preparePrompts } from './prompts/input.js';
export { DEFAULT_OUTPUT_ASSUMPTION, readCheckpointCost } from './prompts/run-spend.js';
export type { Endpoint } from './requests/endpoint.js';
export type { PromptJob } from './requests/records.js';
export { requestBody } from './requests/requests.js';
export { type CostSummary, formatCost, formatUsd } from './tokens/cost.js';
export { priceTable } from './tokens/prices.js';
export { poolRate, type RunEstimate, RunEstimator, runSeconds } from './tokens/run-estimate.js';
export { LiveSource, RunDirSource, startDashboard } from './ui/index.js';
