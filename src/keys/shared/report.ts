/**
 * A shared pool as `keybatch keys --redis` and `keybatch status --redis` show it: every key of the
 * config with its state as all processes know it and its counters summed over them.
 */
import type { ConfigFile } from '../config.js';
import { KeyPool } from '../key-pool.js';
import type { PoolStatus } from '../types.js';
import type { SharedOptions } from './open.js';

/** The pool as Redis has it now (opened without watching or notifying, synced once, closed). */
export async function readSharedPool(
  config: string | ConfigFile | undefined,
  shared: SharedOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<PoolStatus> {
  const quiet = { debug() {}, info() {}, warn() {}, error() {} };
  const pool = await KeyPool.open(config, { shared, watch: false, notify: false, logger: quiet, env });
  try {
    return pool.status();
  } finally {
    await pool.close();
  }
}

const money = (usd: number) => `$${usd < 1 ? usd.toFixed(4) : usd.toFixed(2)}`;

/** The header and rows of the shared pool's table: key, state, then counters over every process. */
export function sharedRows(status: PoolStatus): { title: string; header: string[]; rows: string[][] } {
  const shared = status.shared;
  const title = shared
    ? `shared pool: ${shared.url}, namespace ${shared.namespace}${shared.connected ? '' : ' (NOT connected)'}; counters over every process`
    : 'not shared';
  const header = ['key', 'state', 'requests', 'ok', 'errors', 'tokens', 'cost'];
  const rows = status.keys.map((key) => {
    const counts = key.shared;
    const state =
      key.deniedModels.length > 0 ? `${key.state} (denied ${key.deniedModels.join(',')})` : key.state;
    const errors = counts
      ? Object.entries(counts.errors)
          .filter(([, n]) => n > 0)
          .map(([outcome, n]) => `${outcome} ${n}`)
          .join(', ') || '-'
      : '-';
    return [
      key.key,
      state,
      String(counts?.requests ?? 0),
      String(counts?.successes ?? 0),
      errors,
      String(counts?.tokens ?? 0),
      money(counts?.cost ?? 0),
    ];
  });
  return { title, header, rows };
}
