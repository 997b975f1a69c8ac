/** The Batch API backend of runPrompts (`backend: 'batch'`). */
export { type BatchBackend, type BatchBackendOptions, type BatchProgress, batchBackend } from './backend.js';
export { MAX_SHARD_BYTES, MAX_SHARD_REQUESTS } from './shards.js';
export { BATCHES_FILE, type BatchesFile, readBatches, type ShardRecord } from './state.js';
