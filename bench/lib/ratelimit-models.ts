/**
 * The limiter models the rate-limit benchmark runs: each a simulator key spec (limiter kind, header
 * dialect, `retry-after` form) and the true limit a side's 4 keys together allow.
 */
import type { SimKeySpec } from '../../src/index.js';

export interface ModelSettings {
  /** Requests per second each key may send (request-limited models). */
  perKeyPerSecond: number;
  /** The window of the request limiters, ms. */
  windowMs: number;
  /** Tokens per minute each key may use (token-limited models). */
  tpm: number;
  /** `slots`: concurrent requests per key, queue places per key, service time (ms). */
  slots: number;
  queue: number;
  serviceMs: number;
}

export interface LimiterModel {
  name: string;
  /** What the row is measured against: `requests` (ok/s ÷ 4·L), `tokens` (tokens/s ÷ 4·tpm), `slots` (ok/s ÷ peak). */
  measure: 'requests' | 'tokens' | 'slots';
  /** The per-key simulator spec, without the key itself. */
  spec(s: ModelSettings): Omit<SimKeySpec, 'key'>;
  /** One side's request body `n`. */
  body?: (n: number) => Record<string, unknown>;
}

const perWindow = (s: ModelSettings) => Math.round((s.perKeyPerSecond * s.windowMs) / 1000);

/** ~400 characters of prompt (about 100 tokens to the simulator), 60 tokens of completion allowed. */
const tokenBody = (n: number) => ({
  model: 'gpt-4o-mini',
  messages: [
    { role: 'user', content: `token bench request ${n}: ${'lorem ipsum dolor sit amet '.repeat(14)}` },
  ],
  max_tokens: 60,
});

export const MODELS: readonly LimiterModel[] = [
  {
    name: 'bucket/openai',
    measure: 'requests',
    spec: (s) => ({
      requestsPerWindow: perWindow(s),
      windowMs: s.windowMs,
      limiter: { kind: 'bucket' },
      headers: { dialect: 'openai' },
    }),
  },
  {
    name: 'fixed/openai',
    measure: 'requests',
    spec: (s) => ({
      requestsPerWindow: perWindow(s),
      windowMs: s.windowMs,
      limiter: { kind: 'fixed' },
      headers: { dialect: 'openai' },
    }),
  },
  {
    name: 'fixed/ietf',
    measure: 'requests',
    spec: (s) => ({
      requestsPerWindow: perWindow(s),
      windowMs: s.windowMs,
      limiter: { kind: 'fixed' },
      headers: { dialect: 'ietf', retryAfter: 'seconds' },
    }),
  },
  {
    name: 'sliding/openai',
    measure: 'requests',
    spec: (s) => ({
      requestsPerWindow: perWindow(s),
      windowMs: s.windowMs,
      limiter: { kind: 'sliding' },
      headers: { dialect: 'openai' },
    }),
  },
  {
    name: 'sliding/anthropic',
    measure: 'requests',
    // Anthropic's limits are per minute (its headers give reset instants, not windows).
    spec: (s) => ({
      requestsPerWindow: perWindow({ ...s, windowMs: 60_000 }),
      windowMs: 60_000,
      limiter: { kind: 'sliding' },
      headers: { dialect: 'anthropic', retryAfter: 'seconds' },
    }),
  },
  {
    name: 'none + retry-after-ms',
    measure: 'requests',
    spec: (s) => ({
      requestsPerWindow: perWindow(s),
      windowMs: s.windowMs,
      limiter: { kind: 'sliding' },
      headers: { dialect: 'none', retryAfter: 'ms' },
    }),
  },
  {
    name: 'none + bare 429',
    measure: 'requests',
    spec: (s) => ({
      requestsPerWindow: perWindow(s),
      windowMs: s.windowMs,
      limiter: { kind: 'sliding' },
      headers: { dialect: 'none', retryAfter: 'none', bare429: true },
    }),
  },
  {
    name: 'tpm-limited',
    measure: 'tokens',
    spec: (s) => ({
      tokensPerWindow: Math.round((s.tpm * s.windowMs) / 60_000),
      windowMs: s.windowMs,
      limiter: { kind: 'bucket', settleTokens: true },
      headers: { dialect: 'openai' },
    }),
    body: tokenBody,
  },
  {
    name: 'groq per-day + tpm',
    measure: 'tokens',
    spec: (s) => ({
      // A per-day request budget that does not bind in the run; the per-minute token limit does.
      requestsPerWindow: 1_000_000,
      windowMs: 86_400_000,
      tokensPerWindow: s.tpm,
      tokenWindowMs: 60_000,
      limiter: { kind: 'bucket', settleTokens: true },
      headers: { dialect: 'openai', retryAfter: 'seconds' },
    }),
    body: tokenBody,
  },
  {
    name: 'slots',
    measure: 'slots',
    spec: (s) => ({
      limiter: { kind: 'slots', slots: s.slots, queue: s.queue, serviceMs: s.serviceMs },
    }),
  },
];
