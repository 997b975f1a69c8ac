/**
 * Public types of the OpenAI-compatible simulator. `SimulatorOptions` is JSON-serialisable: it is
 * also the `keybatch simulate --scenario FILE` format.
 */

/** One API key the simulator accepts. */
export interface SimKeySpec {
  /** The API key string clients send as `Authorization: Bearer <key>`. */
  key: string;
  /**
   * Successful requests allowed in total; past it every request answers 429 `insufficient_quota`.
   * @default unlimited
   */
  quota?: number;
  /** Rate limit on requests per window. @default unlimited */
  requestsPerWindow?: number;
  /** Rate limit on tokens (prompt estimate + max output tokens) per window. @default unlimited */
  tokensPerWindow?: number;
  /** The rate-limit window in milliseconds. @default 60_000 */
  windowMs?: number;
  /** Models this key may use; any other model answers 404 `model_not_found`. @default all models */
  models?: string[];
  /** Keys with the same group share one set of rate-limit buckets (like an organization). @default the key itself */
  group?: string;
  /** If set, requests must send this `OpenAI-Organization` header, else 401 `mismatched_organization`. */
  organization?: string;
  /**
   * The window of `tokensPerWindow` when it differs from `windowMs` (Groq: requests per day, tokens
   * per minute). @default windowMs
   */
  tokenWindowMs?: number;
  /** How the key's group enforces its limits. @default the simulator's `limiter`, else `{ kind: 'bucket' }` */
  limiter?: SimLimiter;
  /** How answers report the limits. @default the simulator's `headers`, else `{ dialect: 'openai' }` */
  headers?: SimHeaders;
}

/** Options every rate limiter (`bucket`, `sliding`, `fixed`) takes. */
export interface SimRateLimiterBase {
  /**
   * Tokens are charged as prompt + `max_tokens` at admission and settled to the answer's actual
   * `usage.total_tokens` when it is written (the difference refunded, or charged).
   * @default false (charged at admission, never settled)
   */
  settleTokens?: boolean;
}

/**
 * The limiter model of a key or group:
 * - `bucket`: continuous token buckets refilling at limit / window (OpenAI); `reset` = until full.
 *   `enforceMs` also enforces each limit over that shorter period (a per-minute limit per second:
 *   bursts of at most limit × enforceMs / window, at least 1); ignored when not shorter than the
 *   window. The headers keep reporting the whole window's bucket; a request needing more tokens
 *   than the shorter period's bucket holds is refused as too large.
 * - `sliding`: a sliding-window log, at most the limit in any window; `reset` = until the oldest
 *   counted request leaves.
 * - `fixed`: fixed windows aligned to multiples of the window; `reset` = until the window ends.
 * - `slots`: no rate limit but `slots` concurrent requests and a queue of `queue`; beyond it 503;
 *   latency = service time × queue position; no rate-limit headers.
 * - `batching`: continuous batching (vLLM): like `slots`, but a request's service time is
 *   `baseMs + perRunningMs × running` (the requests holding a slot when it starts, itself
 *   included), so latency grows with load; 503 once the queue is full; no rate-limit headers.
 */
export type SimLimiter =
  | (SimRateLimiterBase & { kind: 'bucket' /** @default none */; enforceMs?: number })
  | (SimRateLimiterBase & { kind: 'sliding' })
  | (SimRateLimiterBase & { kind: 'fixed' })
  | {
      kind: 'slots';
      /** Requests served at once. @default 1 */
      slots?: number;
      /** Requests waiting for a slot; one more answers 503. @default 512 (Ollama's `OLLAMA_MAX_QUEUE`) */
      queue?: number;
      /** Time one request holds a slot. @default the request's drawn `latencyMs` */
      serviceMs?: number;
    }
  | {
      kind: 'batching';
      /** Requests in the batch at once. @default 256 (vLLM's `max_num_seqs`) */
      slots?: number;
      /** Requests waiting for a place in the batch; one more answers 503. @default 512 */
      queue?: number;
      /** A request's service time before `perRunningMs`. @default the request's drawn `latencyMs` */
      baseMs?: number;
      /** Added to a request's service time per request running when it starts (itself included). Required. */
      perRunningMs: number;
    };

/**
 * Rate-limit header dialects: `openai` (`x-ratelimit-{limit,remaining,reset}-{requests,tokens}`),
 * `azure` (`x-ratelimit-remaining-{requests,tokens}` only), `ietf` (`RateLimit` / `RateLimit-Policy`
 * structured fields, draft-ietf-httpapi-ratelimit-headers-08 and later), `ietf-legacy`
 * (`RateLimit-Limit` / `-Remaining` / `-Reset` and `RateLimit-Policy: 100;w=60`, draft 06),
 * `anthropic` (`anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}`, RFC 3339 reset
 * instants, Anthropic's error body), `none` (no rate-limit headers).
 */
export type SimDialect = 'openai' | 'azure' | 'ietf' | 'ietf-legacy' | 'anthropic' | 'none';

/**
 * The `retry-after` of a rate-limited answer: `ms` (`retry-after-ms` plus `retry-after` in whole
 * seconds, as OpenAI and Azure send), `seconds` (`retry-after` only), `date` (`retry-after` as an
 * HTTP date), `none`.
 */
export type SimRetryAfter = 'ms' | 'seconds' | 'date' | 'none';

export interface SimHeaders {
  /** @default 'openai' */
  dialect?: SimDialect;
  /** @default 'ms' for `openai`, `azure` and `none`; 'seconds' for `ietf`, `ietf-legacy`, `anthropic` */
  retryAfter?: SimRetryAfter;
  /** 429 answers carry no rate-limit headers and no `retry-after` at all. @default false */
  bare429?: boolean;
  /**
   * `x-ratelimit-*` values as Azure sometimes sends them: limit and remaining `-1`, reset `0`, for
   * both kinds (`true`) or one. Only for the `openai` and `azure` dialects. @default false
   */
  unknownValues?: boolean | 'requests' | 'tokens';
}

/** A queued fault: the next `count` matching requests fail this way. */
export interface SimFault {
  /** `status`: answer an error status; `drop`: destroy the socket; `hang`: never answer. */
  kind: 'status' | 'drop' | 'hang';
  /** For kind `status`: 500, 502, 503, 408, 409, 429 … @default 500 */
  status?: number;
  /** How many matching requests fail. @default 1 */
  count?: number;
  /** Only requests sent with this API key match. @default every request */
  key?: string;
  /** For a 429: the `retry-after-ms` advertised. @default 1000 */
  retryAfterMs?: number;
}

/** Random faults, drawn from a seeded PRNG so that a run is reproducible. */
export interface SimRandomFaults {
  /** Probability (0–1) that a request answers 500. @default 0 */
  errorRate?: number;
  /** Probability (0–1) that a request's connection is destroyed. @default 0 */
  dropRate?: number;
  /** Probability (0–1) that a request never answers. @default 0 */
  hangRate?: number;
  /** PRNG seed. @default 1 */
  seed?: number;
}

export interface SimulatorOptions {
  /** The keys the simulator accepts. */
  keys: SimKeySpec[];
  /** Latency added before answering, fixed or uniformly drawn from `[min, max]`. @default 0 */
  latencyMs?: number | { min: number; max: number };
  /** The port to listen on; always binds 127.0.0.1 only. @default 0 (ephemeral) */
  port?: number;
  /**
   * Served by `/v1/models`, and accepted by the model endpoints beside the known OpenAI models
   * (`KNOWN_MODELS`); any other model answers 404 `model_not_found`. A key's own `models` list
   * replaces both for that key.
   * @default ['gpt-4o-mini', 'gpt-4o', 'text-embedding-3-small', 'gpt-3.5-turbo-instruct']
   */
  models?: string[];
  /** Random injected 500s, dropped connections and hangs. @default none */
  faults?: SimRandomFaults;
  /** Prompt tokens above this answer 400 `context_length_exceeded`. @default 128_000 */
  contextLimit?: number;
  /** The limiter of every key without its own. @default { kind: 'bucket' } */
  limiter?: SimLimiter;
  /** The rate-limit headers of every key without its own. @default { dialect: 'openai' } */
  headers?: SimHeaders;
  /** The Batch API's time scale, expiry, token cap and limits. @default real time, no cap */
  batch?: SimBatchOptions;
  /** How answers to requests with a JSON schema go wrong (structured outputs). @default all valid */
  structured?: SimStructuredOptions;
}

/**
 * Shares (0–1, adding up to at most 1) of the rows of structured requests (a `json_schema` /
 * `json_object` format) whose answers are invalid on the first try(s), truncated (`length`),
 * refused or filtered (`content_filter`). A row is known by its first user message: its fate is
 * the same online, in a batch, and on every run.
 */
export interface SimStructuredOptions {
  /** Invalid answers (prose around the JSON, a required property missing, a wrong type). @default 0 */
  invalidRate?: number;
  /** Answers cut off: `finish_reason: "length"` / responses `incomplete` (`max_output_tokens`). @default 0 */
  truncatedRate?: number;
  /** Refusals: in `message.refusal` (or a `refusal` part), or as plain text, half each. @default 0 */
  refusedRate?: number;
  /** `finish_reason: "content_filter"` / responses `incomplete` (`content_filter`). @default 0 */
  filteredRate?: number;
  /** How many answers of an invalid row are invalid before a re-ask gets a valid one. @default 1 */
  invalidTries?: number;
  /** Seed of the draw. @default 1 */
  seed?: number;
}

/** Counters for one key (keyed by its redacted form in `SimStats.byKey`). */
export interface SimKeyStats {
  requests: number;
  successes: number;
  byStatus: Record<string, number>;
  /** `usage.total_tokens` of the successful answers. */
  tokens: number;
}

/**
 * Counters for one rate-limit group (keyed by its `group`, or the key's redacted form), of model
 * requests only (chat, completions, embeddings, responses).
 */
export interface SimGroupStats {
  limiter: SimLimiter['kind'];
  /** Answers with a 2xx status. */
  admitted: number;
  /** `usage.total_tokens` of the admitted answers. */
  tokens: number;
  /** 429 answers other than `insufficient_quota`. */
  rateLimited: number;
  /** 503 answers: a full `slots` / `batching` queue, or a `[[sim:503]]` trigger (faults injected before auth are not counted per group). */
  unavailable: number;
  /**
   * The most requests per second the group can serve: the request limit over its window, or for
   * `slots`, slots × 1000 / service time (`batching`: the service time with every slot running);
   * `null` when unbounded or unknown.
   */
  peakPerSecond: number | null;
}

export interface SimStats {
  /** Requests received (answered, dropped, hung or still in flight). */
  requests: number;
  /** Answers with a 2xx status. */
  successes: number;
  /** Answers per HTTP status: `{ '200': n, '429': n }`. */
  byStatus: Record<string, number>;
  /** Per known key, keyed by `redactKey(key)` — never the full key. */
  byKey: Record<string, SimKeyStats>;
  /** Successful answers per request fingerprint (the last user message, or the prompt / input text). */
  answered: Record<string, number>;
  /** 429 answers other than `insufficient_quota`. */
  rateLimited: number;
  /** Connections destroyed instead of answered (faults and `[[sim:drop]]`). */
  dropped: number;
  /** Requests never answered (faults and `[[sim:hang]]`). */
  hung: number;
  /** Per rate-limit group, once one of its keys' requests was answered (absent until then). */
  byGroup?: Record<string, SimGroupStats>;
  /** Files and batches: created, cancelled, requests per route and key, which key named which id. */
  objects: SimObjectStats;
}

/** One request as received, for tests to check what arrived. */
export interface RecordedRequest {
  method: string;
  /** The path without the query string, e.g. `/v1/chat/completions`. */
  path: string;
  /** The bearer key, redacted; `null` when none was sent. */
  key: string | null;
  /** The `OpenAI-Organization` header, if sent. */
  organization?: string;
  /** The parsed JSON body, or `null` (no body, malformed JSON, multipart). */
  body: unknown;
  /** The HTTP status answered; 0 while not answered, or when dropped or hung. */
  status: number;
  /** `Date.now()` when the request was received. */
  time: number;
}

export interface Simulator {
  /** `http://127.0.0.1:<port>/v1` — pass as `baseURL` to the openai SDK. */
  readonly url: string;
  readonly port: number;
  stats(): SimStats;
  /** Replaces the key table live; a key string that stays keeps its used quota and its buckets. */
  setKeys(keys: SimKeySpec[]): void;
  /** Queues a fault: the next `count` matching requests fail this way. */
  inject(fault: SimFault): void;
  /** The last 2000 requests received, oldest first. */
  requests(): RecordedRequest[];
  /** Resets the counters and the request log (not quotas, buckets or trigger counts). */
  resetStats(): void;
  /** Stops listening and destroys every open connection (hung and keep-alive alike). */
  close(): Promise<void>;
}

/**
 * The Batch API (`/v1/batches`) and its time scale. A batch is `validating` for `validateMs`, then
 * `in_progress` while its lines complete one after another over `processMs` (in a shuffled
 * order; `request_counts` grow meanwhile), `finalizing` for `finalizeMs`, then `completed`. A
 * batch with lines that never complete (`expireLines`, or `[[sim:expire]]` / `[[sim:expirex1]]` in
 * a line's text) stays `in_progress` until `dayMs` after its creation, then is `expired`: the
 * lines done are in its output file, the others `batch_expired` lines of its error file.
 */
export interface SimBatchOptions {
  /** Real milliseconds that stand for the 24 h completion window. @default 86_400_000 (real time) */
  dayMs?: number;
  /** Real milliseconds a batch is `validating`. @default dayMs / 200 */
  validateMs?: number;
  /** Real milliseconds its lines take in all while `in_progress`. @default dayMs / 20 */
  processMs?: number;
  /** Real milliseconds a batch is `finalizing` (and `cancelling`). @default dayMs / 200 */
  finalizeMs?: number;
  /** The last N lines (in input order) of every batch never complete: the batch expires. @default 0 */
  expireLines?: number;
  /**
   * Tokens (prompt estimate of each line) an organization may have enqueued across its open
   * batches, per model (`{ "gpt-4o-mini": 90000 }`) or for every model (a number); a batch over
   * it fails with `token_limit_exceeded`. @default unlimited
   */
  enqueuedTokenLimit?: number | Record<string, number>;
  /** Requests per input file; more fail validation with `too_many_tasks`. @default 50_000 */
  maxRequests?: number;
  /** Bytes per uploaded file; a larger upload is refused with 400. @default 209_715_200 (200 MB) */
  maxFileBytes?: number;
  /** Seed of the output files' line order. @default 1 */
  seed?: number;
}

/** Files and batches counters (in `SimStats.objects`). */
export interface SimObjectStats {
  /** Files uploaded through `POST /v1/files` (output and error files not counted). */
  filesCreated: number;
  /** Batches created through `POST /v1/batches`. */
  batchesCreated: number;
  /** Batches cancelled through `POST /v1/batches/{id}/cancel`. */
  batchesCancelled: number;
  /**
   * Requests of known keys per route and key: `{ 'batches.get': { 'sk-…0001': 3 } }`; routes
   * `chat`, `completions`, `embeddings`, `responses`, `models.list`, `models.get`, `files.create`,
   * `files.list`, `files.get`, `files.content`, `files.delete`, `batches.create`, `batches.list`,
   * `batches.get`, `batches.cancel` (keys redacted), counted whatever the answer.
   */
  byRoute: Record<string, Record<string, number>>;
  /**
   * Per file or batch id named in a request's path (or a batch's `input_file_id`), the redacted
   * keys that named it, each once, in order — whatever the answer (another organization's 404 too).
   */
  touchedBy: Record<string, string[]>;
}
