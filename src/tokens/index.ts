/** Tokens and money (a leaf): the tokenizer, request estimates, the price table, the cost of a usage, spend ledger and journal. */
export { BATCH_DISCOUNT, type CostSummary, formatCost, formatUsd, usageCost } from './cost.js';
export { estimateRequestTokens, type TokenEstimate } from './estimate.js';
export { type PriceOverrides, type PriceTable, priceTable } from './prices.js';
export { poolRate, type RunEstimate, RunEstimator, runSeconds } from './run-estimate.js';
