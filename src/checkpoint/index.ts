/** The checkpoint: run directory, manifest, per-lane JSONL, done-set, ordered merge. */

export { DoneSet } from './done-set.js';
export { finalErrorCode } from './final-error.js';
export { Fingerprint, fingerprintFile, fingerprintValues } from './fingerprint.js';
export type { LaneWriter } from './lane-writer.js';
export { type Manifest, readManifest } from './manifest.js';
export type { MergeResult } from './merge.js';
export { type EncodedResults, encodeResults, type FailurePayload, type LaneRecord } from './record.js';
export { openRunDir, type RunDir, type RunDirInit } from './run-dir.js';
export { readResults, type ScanResult, scanRunDir } from './scan.js';
