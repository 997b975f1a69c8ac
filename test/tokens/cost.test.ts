import { describe, expect, it } from 'vitest';
import { billedTokens, CostTally, estimateCost, formatCost, usageCost } from '../../src/tokens/cost.js';
import { SpendLedger } from '../../src/tokens/ledger.js';
import { bundledPrices, priceTable, rateAt, snapshotBase } from '../../src/tokens/prices.js';

const table = priceTable();
const price = (model: string) => {
  const found = table.lookup(model);
  if (!found) throw new Error(`no price for ${model}`);
  return found.price;
};

describe('prices: the maintained table, config overrides, snapshot names', () => {
  it('knows OpenAI models from @pydantic/genai-prices (USD per 1M tokens)', () => {
    expect(price('gpt-4o')).toMatchObject({ input: 2.5, output: 10, cached_input: 1.25 });
    expect(price('gpt-4o-mini')).toMatchObject({ input: 0.15, output: 0.6, cached_input: 0.075 });
    expect(price('text-embedding-3-small')).toMatchObject({ input: 0.02, output: 0 });
    expect(bundledPrices().size).toBeGreaterThan(50);
  });

  it('a dated snapshot falls back to its base name; nothing else is guessed', () => {
    expect(snapshotBase('gpt-4o-2024-08-06')).toBe('gpt-4o');
    expect(snapshotBase('gpt-4-0613')).toBe('gpt-4');
    expect(snapshotBase('gpt-4o')).toBeUndefined();
    expect(table.lookup('gpt-4o-mini-2099-01-01')).toMatchObject({ model: 'gpt-4o-mini' });
    expect(table.lookup('gpt-4o-foo')).toBeUndefined();
    expect(table.lookup('my-proxy/gpt-4o')).toBeUndefined();
    expect(table.lookup('sim-model')).toBeUndefined();
    expect(table.lookup(undefined)).toBeUndefined();
  });

  it('config prices override the table and add models', () => {
    const own = priceTable({ 'gpt-4o': { input: 1, output: 2 }, 'llama-local': { input: 0.1, output: 0.2 } });
    expect(own.lookup('gpt-4o')).toEqual({
      price: { input: 1, output: 2 },
      model: 'gpt-4o',
      source: 'config',
    });
    expect(own.lookup('gpt-4o-2024-08-06')?.source).toBe('genai-prices');
    expect(own.lookup('llama-local-2025-01-01')).toMatchObject({ model: 'llama-local', source: 'config' });
  });

  it('a tiered rate applies by prompt size', () => {
    const rate = { base: 2.5, tiers: [{ start: 272000, price: 5 }] };
    expect(rateAt(rate, 1000)).toBe(2.5);
    expect(rateAt(rate, 272000)).toBe(5);
  });
});

describe('cost of a usage, exact per model', () => {
  it('gpt-4o chat: cached prompt tokens at the cached price, reasoning inside completion tokens', () => {
    const usage = {
      prompt_tokens: 1000,
      completion_tokens: 500,
      total_tokens: 1500,
      prompt_tokens_details: { cached_tokens: 400 },
      completion_tokens_details: { reasoning_tokens: 200 },
    };
    expect(billedTokens(usage)).toEqual({ input: 1000, cachedInput: 400, output: 500 });
    // (600 × 2.5 + 400 × 1.25 + 500 × 10) / 1e6
    expect(usageCost(usage, price('gpt-4o'))).toBe(0.007);
    expect(usageCost(usage, price('gpt-4o'), { batch: true })).toBe(0.0035);
    expect(usageCost(usage, price('gpt-4o'), { batch: true, batchDiscount: 0.25 })).toBe(0.00525);
  });

  it('gpt-4o-mini responses API: input_tokens_details.cached_tokens', () => {
    const usage = { input_tokens: 2000, output_tokens: 300, input_tokens_details: { cached_tokens: 1000 } };
    // (1000 × 0.15 + 1000 × 0.075 + 300 × 0.6) / 1e6
    expect(usageCost(usage, price('gpt-4o-mini'))).toBe(0.000405);
    expect(usageCost(usage, price('gpt-4o-mini'), { batch: true })).toBe(0.0002025);
  });

  it('embeddings: prompt tokens only', () => {
    expect(usageCost({ prompt_tokens: 5000, total_tokens: 5000 }, price('text-embedding-3-small'))).toBe(
      0.0001,
    );
  });

  it('a model without cached_input bills cached tokens at the input price', () => {
    const usage = { prompt_tokens: 100, completion_tokens: 10, prompt_tokens_details: { cached_tokens: 50 } };
    expect(usageCost(usage, { input: 3, output: 4 })).toBe(0.00034);
  });

  it('an estimate costs its prompt at the input price and its cap at the output price', () => {
    expect(estimateCost({ prompt: 1000, completion: 256, total: 1256 }, price('gpt-4o'))).toBe(0.00506);
    expect(
      estimateCost({ prompt: 1000, completion: 256, total: 1256 }, price('gpt-4o'), { batch: true }),
    ).toBe(0.00253);
  });

  it('a tally of rows: an unknown model makes the sum unknown, never guessed', () => {
    const tally = new CostTally(table);
    tally.addRow({ model: 'gpt-4o-2024-08-06', usage: { prompt_tokens: 1000, completion_tokens: 500 } });
    tally.addRow({ model: 'gpt-4o', usage: { prompt_tokens: 1000, completion_tokens: 500 } });
    tally.addRow({ error: { status: 400 } });
    expect(tally.summary).toEqual({ usd: 0.015, knownUsd: 0.015, unknownModels: [] });
    tally.addRow({ model: 'mystery-1', usage: { prompt_tokens: 10, completion_tokens: 5 } });
    expect(tally.summary).toEqual({ usd: null, knownUsd: 0.015, unknownModels: ['mystery-1'] });
    expect(formatCost(tally.summary)).toBe('unknown (no price for mystery-1; $0.0150 for the rest)');
  });
});

describe('spend ledger', () => {
  it('reserves before, settles after, refuses what would pass the cap', () => {
    const ledger = new SpendLedger(0.01, 0.004);
    const a = ledger.reserve(0.003);
    expect(a).toBeDefined();
    expect(ledger.reserve(0.004)).toBeUndefined();
    ledger.settle(a!, 0.001);
    expect(ledger.spent).toBe(0.005);
    expect(ledger.reserved).toBe(0);
    const b = ledger.reserve(0.005);
    expect(b).toBeDefined();
    ledger.refund(b!);
    ledger.refund(b!);
    expect(ledger.reserved).toBe(0);
    expect(ledger.left).toBe(0.005);
  });
});
