/**
 * What a prompt run spends: the cost of every answer (from its `usage` and the model's price),
 * and, with a budget, the reservations that keep it under the cap. The figure already spent is
 * rebuilt from the checkpoint's rows, so it survives a crash (kill -9) and counts across reruns.
 */
import { readdir, readFile } from 'node:fs/promises';
import { readResults } from '../checkpoint/index.js';
import { InputError, KeybatchError } from '../errors.js';
import { type ConfigFile, parseConfig } from '../keys/config.js';
import { KeyPool } from '../keys/key-pool.js';
import { CompletionMean } from '../tokens/completion-mean.js';
import { billedTokens, type CostSummary, CostTally, estimateCost, formatUsd } from '../tokens/cost.js';
import { type Endpoint, estimateRequestTokens } from '../tokens/estimate.js';
import { type Reservation, SpendLedger } from '../tokens/ledger.js';
import { type PriceOverrides, type PriceTable, priceTable } from '../tokens/prices.js';
import { readJournalSpend, SpendJournal } from '../tokens/spend-journal.js';

/** Output tokens assumed for a request that caps none (no max_tokens and kin). */
export const DEFAULT_OUTPUT_ASSUMPTION = 256;

/** config.json `prices` of a pool source (a path, an object, an open pool, or the default lookup). */
export async function configPrices(
  config: string | ConfigFile | KeyPool | undefined,
): Promise<PriceOverrides> {
  let path: string | undefined;
  if (config instanceof KeyPool) path = config.configPath;
  else if (typeof config === 'string') path = config;
  else if (config !== undefined) return parseConfig(config, 'config').config.prices ?? {};
  else path = process.env['KEYBATCH_CONFIG'] ?? 'config.json';
  if (path === undefined) return {};
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return {};
  return parseConfig(text, path).config.prices ?? {};
}

/**
 * The stop of a budget. Its message reads the ledger when it is read, so once the requests that
 * were in flight have settled it says what the run really spent and what is left; what they held
 * reserved when the stop came is kept, since it is why a budget far from spent can stop a run.
 */
function budgetReached(ledger: SpendLedger, next: number): KeybatchError {
  const error = new KeybatchError('BUDGET_REACHED', 'stopped: budget reached');
  const held = { usd: ledger.reserved, requests: ledger.holders };
  Object.defineProperty(error, 'message', {
    enumerable: false,
    configurable: true,
    get: () => {
      const inFlight = ledger.reserved > 0 ? `, ${formatUsd(ledger.reserved)} in flight` : '';
      const head = `stopped: budget ${formatUsd(ledger.capUsd)} reached: spent ${formatUsd(ledger.spent)}${inFlight}, ${formatUsd(ledger.left)} left; the next request may cost ${formatUsd(next)}`;
      if (held.requests === 0) return `${head} (rerun with a larger --budget to continue)`;
      const requests = held.requests === 1 ? '1 request' : `${held.requests} requests`;
      return `${head}, and ${requests} in flight held ${formatUsd(held.usd)} of estimates when it stopped (each holds its output at max_tokens until answered); rerun with a larger --budget to continue`;
    },
  });
  return error;
}

export interface RunSpendInit {
  prices: PriceTable;
  /** The run's cap, USD. */
  budgetUsd?: number | undefined;
  /** The run's model (option or params), checked for a price when there is a budget. */
  model?: string | undefined;
  /** The run directory whose rows count as spent (absent: nothing spent yet). */
  checkpoint?: string | undefined;
  /** Output tokens assumed for a request that caps none. @default 256 */
  outputAssumption?: number;
  /** The answers are billed at Batch API prices (the run's backend is `batch`). @default false */
  batch?: boolean;
  /**
   * With a budget: the run directory whose spend journal keeps what rows cannot (reservations in
   * flight at a kill, answers without usage); read when `checkpoint` is given (a resume).
   */
  journal?: string | undefined;
  /** Called once, the first time an answer carries no `usage` under a budget. */
  warn?: ((line: string) => void) | undefined;
}

/** The reservation of one request (undefined without a budget). */
export type SpendTicket = Reservation | undefined;

export class RunSpend {
  /** This run's answers. */
  private readonly run: CostTally;
  /** Every answer of the checkpoint, this run's included. */
  private readonly all: CostTally;
  private readonly ledger: SpendLedger | undefined;
  private readonly mean: CompletionMean;
  private readonly ids = new WeakMap<Reservation, number>();
  private journal: SpendJournal | undefined;
  private warn: ((line: string) => void) | undefined;

  private constructor(
    private readonly prices: PriceTable,
    budgetUsd: number | undefined,
    spentBefore: number,
    previous: CostTally,
    outputAssumption: number,
    batch: boolean,
  ) {
    this.run = new CostTally(prices, { batch });
    this.all = previous;
    this.ledger = budgetUsd === undefined ? undefined : new SpendLedger(budgetUsd, spentBefore);
    this.mean = new CompletionMean(outputAssumption);
  }

  /**
   * Reads what the checkpoint spent and checks the budget can be kept. Rejects with `InputError`
   * (one line) for a bad budget or a budget on a model with no price.
   */
  static async open(init: RunSpendInit): Promise<RunSpend> {
    const { budgetUsd, model, prices } = init;
    if (budgetUsd !== undefined) {
      if (typeof budgetUsd !== 'number' || !Number.isFinite(budgetUsd) || budgetUsd < 0) {
        throw new InputError(`\`budgetUsd\`: expected a number of USD >= 0, got ${String(budgetUsd)}`);
      }
      if (model !== undefined && !prices.lookup(model)) {
        throw new InputError(
          `--budget: no price for model ${model}, so its cost is unknown; add it to config.json "prices" ({ "${model}": { "input": USD per 1M, "output": USD per 1M } })`,
        );
      }
    }
    const previous = new CostTally(prices, { batch: init.batch === true });
    if (init.checkpoint && (await readdir(init.checkpoint).catch(() => undefined))) {
      const rows = new Map<number, unknown>();
      await readResults(init.checkpoint, (i, value) => rows.set(i, value));
      for (const row of rows.values()) previous.addRow(row);
    }
    // What rows cannot show: requests in flight at a kill, answers without usage (a resume only).
    const carried =
      budgetUsd !== undefined && init.journal && init.checkpoint ? await readJournalSpend(init.journal) : 0;
    if (carried > 0) previous.addEstimate(carried);
    const spent = previous.summary.knownUsd;
    const spend = new RunSpend(
      prices,
      budgetUsd,
      spent,
      previous,
      init.outputAssumption ?? DEFAULT_OUTPUT_ASSUMPTION,
      init.batch === true,
    );
    if (budgetUsd !== undefined && init.journal) spend.journal = new SpendJournal(init.journal, carried);
    spend.warn = init.warn;
    return spend;
  }

  /**
   * Before a request is sent: with a budget, reserves its estimated cost (prompt through the
   * tokenizer, output at its cap or the assumption). Throws `BUDGET_REACHED` when it would pass
   * the cap (the run stops, resumable).
   */
  reserve(endpoint: Endpoint, body: Record<string, unknown>): SpendTicket {
    const ledger = this.ledger;
    if (!ledger) return undefined;
    const model = typeof body['model'] === 'string' ? body['model'] : undefined;
    const match = this.prices.lookup(model);
    if (!match) {
      throw new KeybatchError(
        'BUDGET_REACHED',
        `stopped: no price for model ${model ?? '(none)'}, so the budget cannot be kept; add it to config.json "prices"`,
      );
    }
    const estimate = estimateRequestTokens(endpoint, body, this.mean);
    const cost = estimateCost(estimate, match.price);
    const ticket = ledger.reserve(cost);
    if (!ticket) throw budgetReached(ledger, cost);
    if (this.journal) this.ids.set(ticket, this.journal.reserved(cost));
    return ticket;
  }

  /**
   * An answer came back: its actual cost settles its reservation. Without `usage` (some servers
   * and proxies omit it) its reserved estimate is what it cost, so a budget still holds.
   */
  answered(ticket: SpendTicket, model: unknown, usage: unknown): void {
    const id = ticket ? this.ids.get(ticket) : undefined;
    if (ticket && this.ledger && billedTokens(usage) === undefined) {
      this.ledger.settle(ticket, ticket.usd);
      this.run.addEstimate(ticket.usd);
      this.all.addEstimate(ticket.usd);
      if (id !== undefined) this.journal?.estimated(id, ticket.usd);
      this.warn?.(
        `answers carry no usage (the server or a proxy leaves it out): spend is counted at each request's reserved estimate, output at its max_tokens`,
      );
      this.warn = undefined;
      return;
    }
    const cost = this.run.add(model, usage);
    this.all.add(model, usage);
    if (ticket && this.ledger) this.ledger.settle(ticket, cost ?? ticket.usd);
    if (id !== undefined) this.journal?.settled(id);
  }

  /** The request got no answer that bills (a failure): its reservation is freed. */
  failed(ticket: SpendTicket): void {
    if (ticket && this.ledger) this.ledger.refund(ticket);
    const id = ticket ? this.ids.get(ticket) : undefined;
    if (id !== undefined) this.journal?.settled(id);
  }

  /** This run's answers' cost. */
  get cost(): CostSummary {
    return this.run.summary;
  }

  /** The checkpoint's answers' cost, this run's included. */
  get total(): CostSummary {
    return this.all.summary;
  }

  /** The budget, when there is one: cap, spent (all runs of this checkpoint), left. */
  get budget(): { capUsd: number; spentUsd: number; leftUsd: number } | undefined {
    const ledger = this.ledger;
    return ledger ? { capUsd: ledger.capUsd, spentUsd: ledger.spent, leftUsd: ledger.left } : undefined;
  }
}

/** What runPrompts passes to set up its spend. */
export interface PromptSpendOptions {
  budgetUsd?: number | undefined;
  /** The run's model: the `model` option, else `params.model`. */
  model?: unknown;
  /** The run directory; its rows count as spent unless the run starts fresh. */
  checkpoint: string;
  resume: boolean;
  /** The run goes through the Batch API: its answers cost Batch API prices. */
  batch?: boolean;
  /** Called once, the first time an answer carries no `usage` under a budget. */
  warn?: (line: string) => void;
}

/** The spend of a runPrompts run: prices from config.json `prices` and the table, spent from the checkpoint. */
export async function openRunSpend(
  config: string | ConfigFile | KeyPool | undefined,
  options: PromptSpendOptions,
): Promise<RunSpend> {
  const prices = priceTable(await configPrices(config));
  return RunSpend.open({
    prices,
    budgetUsd: options.budgetUsd,
    model: typeof options.model === 'string' ? options.model : undefined,
    checkpoint: options.resume ? options.checkpoint : undefined,
    batch: options.batch === true,
    journal: options.checkpoint,
    warn: options.warn,
  });
}

/**
 * What the answers in a run directory cost (every row's `model` and `usage`), at config.json
 * `prices` (of `config`, else the default config file) and the table. Read-only.
 */
export async function readCheckpointCost(
  checkpoint: string,
  config?: string | ConfigFile | KeyPool,
  options: { batch?: boolean } = {},
): Promise<CostSummary> {
  const prices = priceTable(await configPrices(config).catch(() => ({})));
  const spend = await RunSpend.open({ prices, checkpoint, batch: options.batch === true });
  return spend.total;
}
