/** The checkpoint: run directory, manifest, per-lane JSONL, done-set, ordered merge. */

export { DoneSet } from './done-set.js';
export { finalErrorCode } from './final-error.js';
export { Fingerprint, fingerprintFile, fingerprintValues } from './fingerprint.js';
export { KeySlots, keyBytes } from './key-slots.js';
export { listLaneFiles, readLaneFile } from './lane-file.js';
export type { LaneWriter } from './lane-writer.js';
export {
  acquireRunLock,
  isProcessAlive,
  LOCK_FILE,
  type LockOwner,
  type RunLock,
  runLockHeld,
} from './lock.js';
export { type Manifest, type OutputRecord, readManifest } from './manifest.js';
export { type MergeLayout, type MergeResult, removeStaleMergeTemps } from './merge.js';
export { OrderBuilder, readOrder, writeOrder } from './order-file.js';
export { checkOutputOwner, checkOutputPath, type OutputPathOptions } from './output-check.js';
export {
  type EncodedResults,
  encodeResults,
  type FailurePayload,
  KIND_RESULT,
  type LaneRecord,
} from './record.js';
export { openRunDir, type RunDir, type RunDirInit } from './run-dir.js';
export { readResults, type ScanResult, scanRunDir } from './scan.js';
export { checkpointWriteError } from './write-error.js';
