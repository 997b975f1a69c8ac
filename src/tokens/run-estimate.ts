/**
 * What a run would send, before it is sent: requests, tokens (the real tokenizer), cost online
 * and with the Batch API, and the time at the pool's configured rpm/tpm. Pure over request bodies.
 */
import { BATCH_DISCOUNT, estimateCost } from './cost.js';
import { type Endpoint, estimateRequestTokens } from './estimate.js';
import type { PriceTable } from './prices.js';

export interface RunEstimate {
  requests: number;
  /** Prompt tokens, through the model's tokenizer. */
  inputTokens: number;
  /** Output tokens: each request's cap (max_tokens and kin, times n), else the assumption. */
  outputTokens: number;
  /** Requests that cap no output, and the output tokens assumed for each of them. */
  assumed: { requests: number; tokensPerRequest: number };
  /** USD online and with the Batch API's discount; null when a model has no price. */
  cost: { online: number | null; batch: number | null };
  /** Of the cost, what the priced models come to (all of it when `cost` is not null). */
  knownCost: { online: number; batch: number };
  /** Models with no price (their cost is unknown, never guessed). */
  unknownModels: string[];
  /** Requests per model. */
  models: Record<string, number>;
}

type Json = Record<string, unknown>;

const capped = (body: Json): boolean =>
  ['max_completion_tokens', 'max_tokens', 'max_output_tokens'].some(
    (field) =>
      typeof body[field] === 'number' && Number.isFinite(body[field]) && (body[field] as number) >= 0,
  );

const round = (value: number): number => Math.round(value * 1e12) / 1e12;

/** Adds requests one by one; `result` is the estimate so far. */
export class RunEstimator {
  private readonly totals = {
    requests: 0,
    input: 0,
    output: 0,
    assumed: 0,
    online: 0,
    batch: 0,
  };
  private readonly unknown = new Set<string>();
  private readonly models: Record<string, number> = {};

  /**
   * @param outputAssumption Output tokens of a request that caps none.
   * @param batchDiscount The Batch API's discount. @default 0.5
   */
  constructor(
    private readonly prices: PriceTable,
    private readonly outputAssumption: number,
    private readonly batchDiscount = BATCH_DISCOUNT,
  ) {}

  add(endpoint: Endpoint, body: Json): void {
    const model = typeof body.model === 'string' ? body.model : '(no model)';
    const own = capped(body) || endpoint === 'embeddings' || endpoint === 'completions';
    const tokens = estimateRequestTokens(
      endpoint,
      own ? body : { ...body, max_tokens: this.outputAssumption },
    );
    const t = this.totals;
    t.requests += 1;
    t.input += tokens.prompt;
    t.output += tokens.completion;
    if (!own) t.assumed += 1;
    this.models[model] = (this.models[model] ?? 0) + 1;
    const match = this.prices.lookup(model);
    if (!match) {
      this.unknown.add(model);
      return;
    }
    t.online = round(t.online + estimateCost(tokens, match.price));
    t.batch = round(
      t.batch + estimateCost(tokens, match.price, { batch: true, batchDiscount: this.batchDiscount }),
    );
  }

  get result(): RunEstimate {
    const t = this.totals;
    const unknownModels = [...this.unknown].sort();
    const known = unknownModels.length === 0;
    return {
      requests: t.requests,
      inputTokens: t.input,
      outputTokens: t.output,
      assumed: { requests: t.assumed, tokensPerRequest: this.outputAssumption },
      cost: { online: known ? t.online : null, batch: known ? t.batch : null },
      knownCost: { online: t.online, batch: t.batch },
      unknownModels,
      models: { ...this.models },
    };
  }
}

/** Requests and tokens per minute the pool's keys are configured for; undefined where a key has no limit. */
export interface PoolRate {
  rpm: number | undefined;
  tpm: number | undefined;
}

/** What `poolRate` reads of a key's config (a `KeyConfig` of config.json fits: tokens knows no keys). */
export interface KeyRateConfig {
  readonly group?: string | undefined;
  readonly rpm?: number | undefined;
  readonly tpm?: number | undefined;
  readonly models?: readonly string[] | undefined;
}

/**
 * The pool's configured rate for `model`: per group (keys of a group share one budget: its
 * members' highest figure), summed; a key that may serve the model but has no limit makes that
 * dimension unbounded (undefined).
 */
export function poolRate(keys: readonly KeyRateConfig[], model: string | undefined): PoolRate {
  const serving = keys.filter((key) => !key.models || model === undefined || key.models.includes(model));
  if (serving.length === 0) return { rpm: undefined, tpm: undefined };
  const groups = new Map<string, KeyRateConfig[]>();
  serving.forEach((key, i) => {
    const name = key.group === undefined ? `\u0000${i}` : key.group;
    groups.set(name, [...(groups.get(name) ?? []), key]);
  });
  const sum = (field: 'rpm' | 'tpm'): number | undefined => {
    let total = 0;
    for (const members of groups.values()) {
      const limits = members.map((key) => key[field]).filter((x): x is number => x !== undefined);
      if (limits.length === 0) return undefined;
      total += Math.max(...limits);
    }
    return total;
  };
  return { rpm: sum('rpm'), tpm: sum('tpm') };
}

/** Seconds the requests would take at `rate` (the slower of requests and tokens), or undefined when neither is bounded. */
export function runSeconds(estimate: RunEstimate, rate: PoolRate): number | undefined {
  const bounds: number[] = [];
  if (rate.rpm !== undefined) bounds.push((estimate.requests / rate.rpm) * 60);
  if (rate.tpm !== undefined) bounds.push(((estimate.inputTokens + estimate.outputTokens) / rate.tpm) * 60);
  return bounds.length === 0 ? undefined : Math.max(...bounds);
}
