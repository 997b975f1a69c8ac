/**
 * `keybatch estimate <input.jsonl>`: requests, tokens, cost online and with the Batch API, and the
 * time at the pool's configured limits; sends nothing. `keybatch run … --dry-run` checks input,
 * config and output path as a run does, then prints the same estimate for what is pending.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, InputError } from '../index.js';
import {
  checkOutputOwner,
  checkOutputPath,
  DEFAULT_OUTPUT_ASSUMPTION,
  type Endpoint,
  formatUsd,
  type KeyConfig,
  loadConfigFile,
  type OutputRecord,
  type ParsedConfig,
  type PromptJob,
  parseConfig,
  poolRate,
  preparePrompts,
  priceTable,
  type RunEstimate,
  RunEstimator,
  readManifest,
  requestBody,
  runSeconds,
  scanRunDir,
} from '../internal.js';
import { EXIT } from './errors.js';
import { formatDuration } from './format.js';
import { readParamsFile, requestParams } from './request-flags.js';

export interface EstimateFlags {
  config?: string | undefined;
  model?: string | undefined;
  system?: string | undefined;
  endpoint?: Endpoint | undefined;
  /** `--batch`: the Batch API's cost and timing apply. */
  batch?: boolean | undefined;
  /** Output tokens of a request that caps none (not sent). */
  maxTokens?: number | undefined;
  param?: Array<[string, unknown]> | undefined;
  params?: string | undefined;
  json?: boolean | undefined;
}

export interface EstimateReport extends RunEstimate {
  model: string | null;
  batch: boolean;
  /** The pool's configured rate, and the seconds the run would take at it (null: unknown). */
  time: { seconds: number | null; rpm: number | null; tpm: number | null; source: string | null };
  /** Items the checkpoint already has (dry run only; they are not counted). */
  skipped?: number;
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** The config a run would use, or undefined when there is none (`required`: then that is an error). */
async function loadPool(
  path: string | undefined,
  required: boolean,
): Promise<{ parsed: ParsedConfig; source: string } | undefined> {
  const env = process.env;
  const file = path ?? env['KEYBATCH_CONFIG'] ?? ((await exists('config.json')) ? 'config.json' : undefined);
  if (file) return { parsed: await loadConfigFile(file), source: file };
  if (env['OPENAI_API_KEY']) {
    return {
      parsed: parseConfig({ key_list: [{ api_key: env['OPENAI_API_KEY'] }] }),
      source: 'OPENAI_API_KEY',
    };
  }
  if (!required) return undefined;
  throw new ConfigError(
    'no key pool: ./config.json does not exist and OPENAI_API_KEY is not set (copy config.example.json to config.json, or pass -c FILE)',
    { code: 'CONFIG_MISSING' },
  );
}

async function* jobsOf(data: unknown): AsyncGenerator<PromptJob> {
  for await (const job of data as AsyncIterable<PromptJob>) yield job;
}

/** Estimates the run of `input` (pending items only when `done` says which are done). */
export async function estimateRun(
  input: string,
  flags: EstimateFlags,
  options: {
    requireConfig: boolean;
    done?: (index: number) => boolean;
    extraParams?: Record<string, unknown>;
  },
): Promise<EstimateReport> {
  const pool = await loadPool(flags.config, options.requireConfig);
  const paramsFile = flags.params === undefined ? undefined : await readParamsFile(flags.params);
  const params = { ...requestParams(paramsFile, { ...flags, maxTokens: undefined }), ...options.extraParams };
  const prepared = await preparePrompts(input, {
    endpoint: flags.endpoint ?? 'chat',
    system: flags.system,
    hasModel: flags.model !== undefined || typeof params['model'] === 'string',
    params,
  });
  const estimator = new RunEstimator(
    priceTable(pool?.parsed.config.prices ?? {}),
    flags.maxTokens ?? DEFAULT_OUTPUT_ASSUMPTION,
  );
  let skipped = 0;
  for await (const job of jobsOf(prepared.data)) {
    if (options.done?.(job.index)) {
      skipped += 1;
      continue;
    }
    estimator.add(job.endpoint, requestBody(job, flags.model, params));
  }
  const estimate = estimator.result;
  const models = Object.keys(estimate.models);
  const model = flags.model ?? (models.length === 1 ? models[0]! : null);
  const keys: readonly KeyConfig[] = pool?.parsed.config.keys ?? [];
  const rate = poolRate(keys, model ?? undefined);
  const seconds = pool ? runSeconds(estimate, rate) : undefined;
  const report: EstimateReport = {
    ...estimate,
    model,
    batch: flags.batch === true,
    time: {
      seconds: seconds ?? null,
      rpm: rate.rpm ?? null,
      tpm: rate.tpm ?? null,
      source: pool?.source ?? null,
    },
  };
  if (options.done) report.skipped = skipped;
  return report;
}

const costText = (value: number | null, report: EstimateReport, known: number): string =>
  value !== null
    ? formatUsd(value)
    : `unknown (no price for ${report.unknownModels.join(', ')}${known > 0 ? `; ${formatUsd(known)} for the rest` : ''}; add it to config.json "prices")`;

function timeText(report: EstimateReport): string {
  const { time } = report;
  if (report.batch) return 'within 24 h (Batch API)';
  if (time.source === null) return 'unknown (no config.json: no rpm/tpm limits to go by)';
  const limits = [time.rpm !== null ? `${time.rpm} rpm` : '', time.tpm !== null ? `${time.tpm} tpm` : '']
    .filter(Boolean)
    .join(', ');
  if (time.seconds === null) return `unknown (the keys in ${time.source} set no rpm/tpm)`;
  return `about ${formatDuration(time.seconds * 1000)} at ${limits} (${time.source})`;
}

/** The estimate's lines. */
export function formatEstimate(report: EstimateReport): string[] {
  const { assumed } = report;
  const output =
    assumed.requests === 0
      ? `${report.outputTokens}`
      : `${report.outputTokens} (assuming ${assumed.tokensPerRequest} output tokens per request for the ${assumed.requests} that set no max_tokens; pass --max-tokens)`;
  const lines = [
    `requests        ${report.requests}${report.skipped ? ` (${report.skipped} already in the checkpoint, not counted)` : ''}`,
    `model           ${report.model ?? Object.keys(report.models).join(', ')}`,
    `input tokens    ${report.inputTokens}`,
    `output tokens   ${output}`,
    `cost online     ${costText(report.cost.online, report, report.knownCost.online)}`,
    `cost batch API  ${costText(report.cost.batch, report, report.knownCost.batch)}`,
    `time            ${timeText(report)}`,
  ];
  return lines;
}

/** `keybatch estimate`: prints the estimate (stdout); sends nothing. */
export async function estimateCommand(input: string, flags: EstimateFlags): Promise<number> {
  const report = await estimateRun(input, flags, { requireConfig: false });
  const text = flags.json ? JSON.stringify(report, null, 2) : formatEstimate(report).join('\n');
  process.stdout.write(`${text}\n`);
  return EXIT.ok;
}

export interface DryRunFlags extends EstimateFlags {
  output: string;
  overwrite?: boolean | undefined;
  fresh?: boolean | undefined;
  budget?: number | undefined;
  temperature?: number | undefined;
}

/**
 * `keybatch run … --dry-run`: the checks a run makes before it sends (config, input records,
 * output path), then the estimate of the pending records. Sends nothing, writes nothing.
 */
export async function dryRunCommand(input: string, flags: DryRunFlags): Promise<number> {
  await checkOutputPath(flags.output, { input });
  const dir = `${flags.output}.keybatch`;
  // The output an earlier merge wrote may be replaced; any other existing file only with --overwrite.
  const manifest = (await exists(dir))
    ? await readManifest(join(dir, 'manifest.json')).catch(() => undefined)
    : undefined;
  const known = [manifest?.output, manifest?.previousOutput].filter(
    (r): r is OutputRecord => r !== undefined,
  );
  await checkOutputOwner(flags.output, known, flags.overwrite === true);
  const scan = flags.fresh || !(await exists(dir)) ? undefined : await scanRunDir(dir);
  // --max-tokens and --temperature are request parameters on `run` (they are sent).
  const extraParams: Record<string, unknown> = {};
  if (flags.maxTokens !== undefined) extraParams['max_tokens'] = flags.maxTokens;
  if (flags.temperature !== undefined) extraParams['temperature'] = flags.temperature;
  const { maxTokens: _, ...rest } = flags;
  const report = await estimateRun(input, rest, {
    requireConfig: true,
    ...(scan ? { done: (i: number) => scan.done.has(i) } : {}),
    extraParams,
  });
  if (flags.budget !== undefined && report.unknownModels.length > 0) {
    const model = report.unknownModels[0];
    throw new InputError(
      `--budget: no price for model ${model}, so its cost is unknown; add it to config.json "prices" ({ "${model}": { "input": USD per 1M, "output": USD per 1M } })`,
    );
  }
  const lines = flags.json ? [JSON.stringify({ ...report, dryRun: true }, null, 2)] : formatEstimate(report);
  if (!flags.json && flags.budget !== undefined) {
    const cost = report.cost.online;
    lines.push(
      `budget          ${formatUsd(flags.budget)}${cost === null ? '' : cost > flags.budget ? ' (the estimate is over it: the run would stop before the end)' : ' (the estimate fits)'}`,
    );
  }
  if (!flags.json) lines.push('dry run: input, config and output path are fine; nothing was sent');
  process.stdout.write(`${lines.join('\n')}\n`);
  return EXIT.ok;
}
