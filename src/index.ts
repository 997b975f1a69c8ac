/**
 * keybatch, the library: large batches of LLM API calls over a pool of API keys. The simulator is
 * also at `keybatch/simulator`; `keybatch worker`'s startWorker is at `keybatch/distributed`.
 */

export { type CacheStats, defaultCacheDir, ResponseCache } from './cache/index.js';
export type { DistributedStatus } from './distributed/coordinator.js';
export type { DistributedOptions } from './distributed/options.js';
export type { WorkerStatus } from './distributed/worker-watch.js';
export {
  AbortError,
  CheckpointMismatchError,
  ConfigError,
  InputError,
  KeybatchError,
  type KeybatchErrorCode,
  NoUsableKeyError,
  type OutputFailureCode,
  StructuredOutputError,
} from './errors.js';
export { globFiles } from './files/index.js';
export { canonicalJson, namespaceOf, type RequestIdentity, rowIdentity } from './identity/index.js';
export type { RetryOptions } from './keys/backoff.js';
export { type ClientOptions, createClient } from './keys/client.js';
export type { ConfigFile } from './keys/config.js';
export { KeyPool, type KeyPoolOptions, type PoolEvents } from './keys/key-pool.js';
export type { ReloadDiff, StateChange } from './keys/key-table.js';
export type { PacingMode, PacingStatus } from './keys/pacing/controller-types.js';
export type { LearnedLimits } from './keys/pacing/learned.js';
export type { AttemptInfo } from './keys/pool-fetch.js';
export {
  type DescribeOptions,
  describeKeys,
  type KeyDescription,
  type PoolDescription,
  type ProbeOptions,
  type ProbeOutcome,
  type ProbeResult,
  probeKeys,
} from './keys/probe.js';
export { redactKey } from './keys/redact.js';
export type { SharedOptions } from './keys/shared/open.js';
export type { KeyState, KeyStatus, PoolStatus, SharedCounters, SharedStatus } from './keys/types.js';
export { consoleLogger, type Logger, silentLogger } from './logger.js';
export { Notifier, type NotifierOptions, type NotifyConfig, type NotifyEvent } from './notify/index.js';
export {
  type PipelineConfig,
  type PipelineInput,
  type PipelineOptions,
  type PipelineResult,
  type PipelineStats,
  type PipelineTask,
  type Progress,
  type RunStatus,
  type RunStatusOptions,
  readRunStatus,
  runPipeline,
  type StoppedRun,
} from './pipeline/index.js';
export { globRecords } from './prompts/glob-records.js';
export {
  type BatchLine,
  type Endpoint,
  type ErrorRow,
  type MessagesRecord,
  type PromptInput,
  type PromptMessage,
  type PromptOptions,
  type PromptRecord,
  type PromptRow,
  type RunSummary,
  runPrompts,
  type StoppedPromptRun,
  type SuccessRow,
  type TokenCounts,
} from './prompts/index.js';
export {
  type CompleteStructuredOptions,
  completeStructured,
  jsonSchema,
  type OutputSchema,
  parseResponse,
  prepareSchema,
  type SchemaInput,
  type StructuredAnswer,
} from './schema/public.js';
// The simulator's home is `keybatch/simulator`. startSimulator stays here too (the contract names
// it); its types too, until bench/ imports them from the subpath.
export {
  type RecordedRequest,
  type SimBatchOptions,
  type SimFault,
  type SimKeySpec,
  type SimObjectStats,
  type SimStats,
  type Simulator,
  type SimulatorOptions,
  startSimulator,
} from './sim/index.js';
export type { TaskContext, TaskFunction } from './workers/index.js';
