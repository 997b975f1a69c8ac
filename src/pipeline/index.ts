/** runPipeline: input streaming, planning, chunks dispatched to lanes (local or distributed), progress, stop, run status. */
export type { PipelineInput } from './input.js';
export type { PipelineOptions } from './options.js';
export {
  type PipelineConfig,
  type PipelineResult,
  type PipelineStats,
  type PipelineTask,
  runPipeline,
  type StoppedRun,
} from './pipeline.js';
export { type KeyStateCounts, type Progress, type ProgressCounts, ProgressMeter } from './progress.js';
export { defaultRunDir, type RunStatus, type RunStatusOptions, readRunStatus } from './status.js';
