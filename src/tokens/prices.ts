/**
 * Model prices in USD per 1M tokens: the maintained table of `@pydantic/genai-prices` (its bundled
 * data, never fetched at run time: it is kept current by upgrading that dependency), overridden and
 * extended by config.json `prices`. A model is found by its exact name, then — for a dated snapshot
 * (`gpt-4o-2024-08-06`, `gpt-4-0613`) — by its base name; nothing else is guessed: an unknown
 * model has no price (its cost is unknown).
 */
import { createRequire } from 'node:module';

/** A price per 1M tokens, or one that rises past a prompt size (`tiers[].start` prompt tokens). */
export type Rate = number | { base: number; tiers: ReadonlyArray<{ start: number; price: number }> };

/** A model's prices, USD per 1M tokens. */
export interface ModelPrice {
  input: Rate;
  output: Rate;
  /** Cached input tokens (prompt caching); absent: they cost `input`. */
  cached_input?: Rate;
}

/** config.json `prices`: `{ "<model>": { "input": 2.5, "output": 10, "cached_input"?: 1.25 } }`. */
export type PriceOverrides = Readonly<
  Record<string, { input: number; output: number; cached_input?: number | undefined }>
>;

/** A found price and where it came from. */
export interface PriceMatch {
  price: ModelPrice;
  /** The table entry used (the base name for a dated snapshot). */
  model: string;
  source: 'config' | 'genai-prices';
}

export interface PriceTable {
  /** The price of `model`, or undefined when neither config nor the table knows it. */
  lookup(model: string | null | undefined): PriceMatch | undefined;
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The price of a rate for a request of `promptTokens` prompt tokens. */
export function rateAt(rate: Rate, promptTokens: number): number {
  if (typeof rate === 'number') return rate;
  let price = rate.base;
  for (const tier of rate.tiers) if (promptTokens >= tier.start) price = tier.price;
  return price;
}

/** A dated snapshot's base name: `-YYYY-MM-DD` or `-MMDD` at the end (`gpt-4-0613` → `gpt-4`). */
export function snapshotBase(model: string): string | undefined {
  const match = /^(.+?)-(\d{4}-\d{2}-\d{2}|\d{4})$/.exec(model);
  return match?.[1];
}

function asRate(value: unknown): Rate | undefined {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  if (isObject(value) && typeof value.base === 'number' && Array.isArray(value.tiers)) {
    const tiers = value.tiers.filter(
      (t): t is { start: number; price: number } =>
        isObject(t) && typeof t.start === 'number' && typeof t.price === 'number',
    );
    return { base: value.base, tiers: [...tiers].sort((a, b) => a.start - b.start) };
  }
  return undefined;
}

/** The prices in effect `now` of a genai-prices entry (a flat price, or prices by start date). */
function pricesNow(prices: unknown, now: Date): Json | undefined {
  if (isObject(prices)) return prices;
  if (!Array.isArray(prices)) return undefined;
  let chosen: Json | undefined;
  const today = now.toISOString().slice(0, 10);
  for (const entry of prices) {
    if (!isObject(entry) || !isObject(entry.prices)) continue;
    const constraint = entry.constraint;
    if (constraint === undefined) chosen ??= entry.prices;
    else if (isObject(constraint) && constraint.type === 'start_date') {
      if (typeof constraint.start_date === 'string' && constraint.start_date <= today) chosen = entry.prices;
    }
  }
  return chosen;
}

/** Exact names a genai-prices match rule lists (`equals`, inside `or`); patterns are not used. */
function exactNames(match: unknown, out: string[]): string[] {
  if (!isObject(match)) return out;
  if (typeof match.equals === 'string') out.push(match.equals);
  if (Array.isArray(match.or)) for (const rule of match.or) exactNames(rule, out);
  return out;
}

let bundled: Map<string, ModelPrice> | undefined;

/**
 * The bundled table by exact model name: OpenAI's models first, then other providers' for names
 * OpenAI does not have (proxies serve those under their own names). Loaded on first use.
 */
export function bundledPrices(now = new Date()): ReadonlyMap<string, ModelPrice> {
  if (bundled) return bundled;
  const require = createRequire(import.meta.url);
  const lib = require('@pydantic/genai-prices') as {
    findProvider(options: { providerId: string }): { models: Json[] } | undefined;
  };
  const table = new Map<string, ModelPrice>();
  const providers = ['openai', 'azure', 'anthropic', 'google', 'mistral', 'groq', 'deepseek'];
  for (const id of providers) {
    const provider = lib.findProvider({ providerId: id });
    for (const model of provider?.models ?? []) {
      const prices = pricesNow(model.prices, now);
      const input = asRate(prices?.input_mtok);
      const output = asRate(prices?.output_mtok) ?? (input === undefined ? undefined : 0);
      if (input === undefined || output === undefined) continue;
      const price: ModelPrice = { input, output };
      const cached = asRate(prices?.cache_read_mtok);
      if (cached !== undefined) price.cached_input = cached;
      const names = exactNames(model.match, typeof model.id === 'string' ? [model.id] : []);
      for (const name of names) if (!table.has(name)) table.set(name, price);
    }
  }
  bundled = table;
  return table;
}

/**
 * The price table: `overrides` (config.json `prices`) first, then the bundled table; exact name,
 * then a dated snapshot's base name.
 * @param bundledTable The maintained table. @default bundledPrices()
 */
export function priceTable(
  overrides: PriceOverrides = {},
  bundledTable: ReadonlyMap<string, ModelPrice> = bundledPrices(),
): PriceTable {
  const own = new Map(Object.entries(overrides));
  const find = (name: string): PriceMatch | undefined => {
    const mine = own.get(name);
    if (mine) {
      const price: ModelPrice = { input: mine.input, output: mine.output };
      if (mine.cached_input !== undefined) price.cached_input = mine.cached_input;
      return { price, model: name, source: 'config' };
    }
    const theirs = bundledTable.get(name);
    return theirs ? { price: theirs, model: name, source: 'genai-prices' } : undefined;
  };
  return {
    lookup(model) {
      if (typeof model !== 'string' || model === '') return undefined;
      const exact = find(model);
      if (exact) return exact;
      const base = snapshotBase(model);
      return base === undefined ? undefined : find(base);
    },
  };
}
