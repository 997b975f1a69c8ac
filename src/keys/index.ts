/** The key pool: config.json, key states, selection and pacing, the pool-aware OpenAI client, error classification. */
export type { RetryOptions } from './backoff.js';
export { type ClientOptions, createClient } from './client.js';
export { type ConfigFile, type KeyConfig, loadConfigFile, type PoolConfig, parseConfig } from './config.js';
export { KeyPool, type KeyPoolOptions, type PoolEvents } from './key-pool.js';
export type { ReloadDiff, StateChange } from './key-table.js';
export type { PacingMode, PacingStatus } from './pacing/controller-types.js';
export type { LearnedLimits } from './pacing/learned.js';
export { type AttemptInfo, createPoolFetch, type PoolFetchOptions } from './pool-fetch.js';
export { redactKey } from './redact.js';
export type {
  KeyBroker,
  KeyState,
  KeyStatus,
  Lease,
  LeaseRequest,
  LeaseResult,
  PoolStatus,
} from './types.js';
