/**
 * Costs in USD, pure: of an answer's `usage` (what was spent) and of a request's token estimate
 * (what it may spend). Prices are per 1M tokens; the Batch API bills a discount off both.
 */
import type { TokenEstimate } from './estimate.js';
import { type ModelPrice, type PriceTable, rateAt } from './prices.js';

/** The Batch API's discount off online prices. */
export const BATCH_DISCOUNT = 0.5;

export interface CostOptions {
  /** Billed at Batch API prices. @default false */
  batch?: boolean;
  /** The Batch API's discount, 0..1. @default 0.5 */
  batchDiscount?: number;
}

/** The tokens of a `usage` that prices apply to. */
export interface BilledTokens {
  /** Prompt tokens, cached ones included. */
  input: number;
  /** Of `input`, those read from the prompt cache. */
  cachedInput: number;
  /** Completion tokens, reasoning tokens included. */
  output: number;
}

type Json = Record<string, unknown>;
const asRecord = (value: unknown): Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : {};
const count = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;

/**
 * The billed tokens of a `usage`: chat/completions/embeddings (`prompt_tokens`,
 * `prompt_tokens_details.cached_tokens`, `completion_tokens`) or responses (`input_tokens`,
 * `input_tokens_details.cached_tokens`, `output_tokens`). Reasoning tokens are part of the
 * completion count already. Undefined when `usage` reports no tokens at all.
 */
export function billedTokens(usage: unknown): BilledTokens | undefined {
  const u = asRecord(usage);
  const input = count(u.prompt_tokens) ?? count(u.input_tokens);
  const output = count(u.completion_tokens) ?? count(u.output_tokens);
  if (input === undefined && output === undefined) return undefined;
  const details = asRecord(u.prompt_tokens_details ?? u.input_tokens_details);
  const cached = Math.min(count(details.cached_tokens) ?? 0, input ?? 0);
  return { input: input ?? 0, cachedInput: cached, output: output ?? 0 };
}

/** Rounds away binary noise (0.1 + 0.2) below a billionth of a cent. */
const usd = (value: number): number => Math.round(value * 1e12) / 1e12;

function factor(options: CostOptions): number {
  if (!options.batch) return 1;
  const discount = options.batchDiscount ?? BATCH_DISCOUNT;
  return 1 - discount;
}

/** The cost of billed tokens at `price`. */
export function tokensCost(tokens: BilledTokens, price: ModelPrice, options: CostOptions = {}): number {
  const inputRate = rateAt(price.input, tokens.input);
  const cachedRate = price.cached_input === undefined ? inputRate : rateAt(price.cached_input, tokens.input);
  const outputRate = rateAt(price.output, tokens.input);
  const perMillion =
    (tokens.input - tokens.cachedInput) * inputRate +
    tokens.cachedInput * cachedRate +
    tokens.output * outputRate;
  return usd((perMillion / 1e6) * factor(options));
}

/** The cost of an answer's `usage` at `price` (0 for a usage without tokens). */
export function usageCost(usage: unknown, price: ModelPrice, options: CostOptions = {}): number {
  const tokens = billedTokens(usage);
  return tokens ? tokensCost(tokens, price, options) : 0;
}

/** The most a request may cost: its estimated prompt at the input price, its completion cap at the output price. */
export function estimateCost(estimate: TokenEstimate, price: ModelPrice, options: CostOptions = {}): number {
  return tokensCost({ input: estimate.prompt, cachedInput: 0, output: estimate.completion }, price, options);
}

/** Spent cost: a sum in USD, or null when some answers' models have no price. */
export interface CostSummary {
  /** USD of every answer, or null when any answer's model has no price (`unknownModels`). */
  usd: number | null;
  /** USD of the answers whose model has a price (all of them when `usd` is not null). */
  knownUsd: number;
  /** Models of answers with `usage` but no price, sorted. */
  unknownModels: string[];
  /** Of `knownUsd`, what answers without `usage` cost by their reserved estimate (a budget's run). */
  estimatedUsd?: number;
}

/** Adds up answers' costs (one `add` per output row); rows without `usage` cost nothing. */
export class CostTally {
  private known = 0;
  private estimated = 0;
  private readonly unknown = new Set<string>();

  constructor(
    private readonly prices: PriceTable,
    private readonly options: CostOptions = {},
  ) {}

  /** Adds one answer; returns its cost, or undefined when its model has no price. */
  add(model: unknown, usage: unknown): number | undefined {
    if (billedTokens(usage) === undefined) return 0;
    const name = typeof model === 'string' ? model : '';
    const match = this.prices.lookup(name);
    if (!match) {
      this.unknown.add(name || '(no model)');
      return undefined;
    }
    const cost = usageCost(usage, match.price, this.options);
    this.known = usd(this.known + cost);
    return cost;
  }

  /**
   * Adds an output row: `{ model, usage }`, or a Batch API output line (`response.body.model`,
   * `response.body.usage`); anything else costs nothing.
   */
  addRow(row: unknown): number | undefined {
    const r = asRecord(row);
    // A row answered from the response cache cost nothing in this run.
    if ((r as { cached?: unknown }).cached === true) return 0;
    if (r.usage !== undefined) return this.add(r.model, r.usage);
    const body = asRecord(asRecord(r.response).body);
    return this.add(body.model, body.usage);
  }

  /** Adds an answer that carried no `usage` at its estimated cost. */
  addEstimate(usdEstimate: number): void {
    this.known = usd(this.known + usdEstimate);
    this.estimated = usd(this.estimated + usdEstimate);
  }

  get summary(): CostSummary {
    const unknownModels = [...this.unknown].sort();
    const summary: CostSummary = {
      usd: unknownModels.length > 0 ? null : this.known,
      knownUsd: this.known,
      unknownModels,
    };
    if (this.estimated > 0) summary.estimatedUsd = this.estimated;
    return summary;
  }
}

/** Several cost summaries as one: known USD added, unknown models joined (null USD if any). */
export function addCosts(costs: Iterable<CostSummary>): CostSummary {
  let known = 0;
  const unknown = new Set<string>();
  for (const cost of costs) {
    known = usd(known + cost.knownUsd);
    for (const model of cost.unknownModels) unknown.add(model);
  }
  const unknownModels = [...unknown].sort();
  return { usd: unknownModels.length > 0 ? null : known, knownUsd: known, unknownModels };
}

/** `$0.0123` — enough digits for small runs, never an exponent. */
export function formatUsd(value: number | null | undefined): string {
  if (value === null || value === undefined) return 'unknown';
  if (value === 0) return '$0';
  const digits = value >= 1 ? 2 : value >= 0.01 ? 4 : 6;
  return `$${value.toFixed(digits)}`;
}

/** A cost summary in one phrase: `$1.23`, or `unknown (model foo; $0.50 for the rest)`. */
export function formatCost(cost: CostSummary): string {
  const estimated = cost.estimatedUsd
    ? ` (${formatUsd(cost.estimatedUsd)} of it estimated: answers without usage)`
    : '';
  if (cost.usd !== null) return `${formatUsd(cost.usd)}${estimated}`;
  const rest = cost.knownUsd > 0 ? `; ${formatUsd(cost.knownUsd)} for the rest` : '';
  return `unknown (no price for ${cost.unknownModels.join(', ')}${rest})`;
}
