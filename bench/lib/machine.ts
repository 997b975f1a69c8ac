/** What a benchmark ran on, and whether the machine is quiet enough to trust a timing. */
import { readFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { sleep } from './stats.js';

export interface Machine {
  cores: number;
  cpu: string;
  memoryGiB: number;
  node: string;
  date: string;
}

export function machine(): Machine {
  const list = cpus();
  return {
    cores: list.length,
    cpu: list[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    date: new Date().toISOString(),
  };
}

export function describeMachine(m: Machine = machine()): string {
  return `${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB RAM, Node ${m.node}, ${m.date}`;
}

/** Total and idle jiffies of all cores, from /proc/stat (Linux); undefined elsewhere. */
async function cpuTimes(): Promise<{ total: number; idle: number } | undefined> {
  try {
    const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
    const fields = line.trim().split(/\s+/).slice(1).map(Number);
    const total = fields.reduce((a, b) => a + b, 0);
    return { total, idle: (fields[3] ?? 0) + (fields[4] ?? 0) };
  } catch {
    return undefined;
  }
}

/**
 * How busy the machine's cores were over `ms` (0..1), while this process sleeps: the load other
 * processes put on it. Falls back to the 1-minute load average per core.
 */
export async function busyFraction(ms = 2000): Promise<number> {
  const before = await cpuTimes();
  await sleep(ms);
  const after = await cpuTimes();
  if (!before || !after || after.total === before.total) return (loadavg()[0] ?? 0) / cpus().length;
  return 1 - (after.idle - before.idle) / (after.total - before.total);
}

/** CPU ticks used by this process and its finished children (/proc/self/stat utime+stime+cutime+cstime). */
async function ownTicks(): Promise<number | undefined> {
  try {
    const text = await readFile('/proc/self/stat', 'utf8');
    // Fields after the parenthesised command name; utime is field 14 (index 11 after it).
    const fields = text
      .slice(text.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    return (fields[11] ?? 0) + (fields[12] ?? 0) + (fields[13] ?? 0) + (fields[14] ?? 0);
  } catch {
    return undefined;
  }
}

/**
 * Starts measuring how much of the machine other processes use while a benchmark runs (all busy
 * CPU time minus this process's and its children's). Returns a function giving the fraction (0..1
 * of all cores) since the start, or undefined where /proc is not available.
 */
export async function otherLoad(): Promise<() => Promise<number | undefined>> {
  const before = await cpuTimes();
  const mine = await ownTicks();
  return async () => {
    const after = await cpuTimes();
    const mineAfter = await ownTicks();
    if (!before || !after || mine === undefined || mineAfter === undefined) return undefined;
    const total = after.total - before.total;
    const busy = total - (after.idle - before.idle);
    return total > 0 ? Math.max(0, (busy - (mineAfter - mine)) / total) : undefined;
  };
}

/**
 * Waits (bounded) until other processes use under `max` of the cores, so they do not distort a
 * timing. Returns the busy fraction seen last and whether the machine was quiet.
 */
export async function waitForQuiet(
  max: number,
  timeoutMs: number,
  log: (line: string) => void,
): Promise<{ busy: number; quiet: boolean }> {
  const deadline = Date.now() + timeoutMs;
  let busy = await busyFraction();
  let said = false;
  while (busy >= max && Date.now() < deadline) {
    if (!said) {
      log(
        `machine ${Math.round(busy * 100)}% busy: waiting up to ${Math.round(timeoutMs / 1000)} s for it to be quiet`,
      );
      said = true;
    }
    await sleep(3000);
    busy = await busyFraction();
  }
  return { busy, quiet: busy < max };
}
