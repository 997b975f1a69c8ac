/** The response cache across runs and outputs (knows row identities, nothing above them). */
export { type CacheStats, defaultCacheDir, ResponseCache } from './response-cache.js';
