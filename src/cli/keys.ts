/**
 * `keybatch keys [-c config.json] [--probe] [-m model] [--json]`: the pool, redacted; --probe asks
 * each key. Exit code 1 when probing and no key answered ok.
 */
import { describeKeys, type KeyDescription, type ProbeResult, probeKeys } from '../index.js';
import { formatLearned, readSharedPool, sharedRows } from '../internal.js';
import { EXIT } from './errors.js';
import { table } from './format.js';

export interface KeysFlags {
  config?: string;
  probe?: boolean;
  model?: string;
  /** The pool (and probes) as one JSON object on stdout. */
  json?: boolean;
  /** `--redis <url>` (else `KEYBATCH_REDIS`): also each key as the processes sharing the pool know it. */
  redis?: string;
}

const DEFAULT_PROBE_MODEL = 'gpt-4o-mini';

function host(baseUrl: string): string {
  try {
    const url = new URL(baseUrl);
    const path = url.pathname.replace(/\/+$/, '');
    return path && path !== '/v1' ? `${url.host}${path}` : url.host;
  } catch {
    return baseUrl;
  }
}

function limit(value: number | undefined): string {
  return value === undefined ? '-' : String(value);
}

/** The probe column: `ok`, `invalid (401 invalid_api_key)`, `unreachable (ECONNREFUSED)`. */
function probeText(result: ProbeResult | undefined): string {
  if (!result) return '';
  if (result.result === 'ok') return 'ok';
  const detail = [result.status, result.code].filter((part) => part !== undefined).join(' ');
  return detail ? `${result.result} (${detail})` : result.result;
}

/** What a key answered, whole: `404 Not Found: Invalid URL (POST /chat/completions)`, or why nothing came. */
function answerText(result: ProbeResult): string {
  const status = [result.status, result.statusText].filter((part) => part !== undefined).join(' ');
  return [status, result.message].filter(Boolean).join(': ') || result.result;
}

function row(key: KeyDescription, probe: ProbeResult | undefined, probing: boolean): string[] {
  const cells = [
    key.key,
    key.group ?? '-',
    probing ? key.baseUrl : host(key.baseUrl),
    key.organization ?? '-',
    key.models ? key.models.join(',') : 'any',
    limit(key.rpm),
    limit(key.tpm),
  ];
  // What the probe's answer headers said of the key's limits: `500/min, 200k tok/min (openai)`.
  if (probing) cells.push(formatLearned(probe?.limits ?? {}), probeText(probe));
  return cells;
}

/** Prints the pool (stdout); warnings about the config go to stderr. Resolves to the exit code. */
export async function keysCommand(flags: KeysFlags): Promise<number> {
  const pool = await describeKeys(flags.config);
  for (const warning of pool.warnings) process.stderr.write(`keybatch: ${warning}\n`);
  const model = flags.model ?? DEFAULT_PROBE_MODEL;
  const probes = flags.probe ? await probeKeys(flags.config, { model }) : undefined;
  const redis = flags.redis ?? (process.env['KEYBATCH_REDIS'] || undefined);
  const shared = redis ? await readSharedPool(flags.config, { url: redis }) : undefined;
  // Probing is a check: it fails (1) when no key can do the run's work.
  const code = probes && !probes.some((probe) => probe.result === 'ok') ? EXIT.failed : EXIT.ok;
  if (flags.json) {
    const report = {
      ...pool,
      ...(probes ? { probe: { model, results: probes } } : {}),
      ...(shared ? { shared: { ...shared.shared, keys: shared.keys } } : {}),
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return code;
  }
  const count = `${pool.keys.length} key${pool.keys.length === 1 ? '' : 's'}`;
  const out: string[] = [`${pool.source}: ${count}, rotation starts at key_list[${pool.keyIndex}]`];
  const header = ['key', 'group', 'base URL', 'organization', 'models', 'rpm', 'tpm'];
  if (probes) header.push('limits (answer headers)', `probe (${model})`);
  out.push(
    ...table(
      header,
      pool.keys.map((key, i) => row(key, probes?.[i], probes !== undefined)),
    ),
  );
  if (probes) {
    const ok = probes.filter((probe) => probe.result === 'ok').length;
    out.push(`${ok} of ${probes.length} keys answered ok for ${model}`);
    const failed = probes.filter((probe) => probe.result !== 'ok');
    if (failed.length > 0) {
      out.push('answers:');
      out.push(
        ...table(
          ['key', 'base URL', 'answer'],
          failed.map((probe) => [probe.key, probe.baseUrl, answerText(probe)]),
        ),
      );
    }
  }
  if (shared) {
    const { title, header: columns, rows } = sharedRows(shared);
    out.push(title, ...table(columns, rows));
  }
  process.stdout.write(`${out.join('\n')}\n`);
  return code;
}
