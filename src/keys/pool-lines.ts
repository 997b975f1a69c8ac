/** The one-line messages of a KeyPool (a key's new state, blocked, a wait given up), as pure functions. */
import type { StateChange } from './key-table.js';

/** The log line of a key's new state: a warning when it is out, a debug line for a cooling. */
export function stateChangeLine(
  change: StateChange,
  configPath: string | undefined,
): { level: 'warn' | 'debug'; text: string } {
  const answer = [change.status, change.code].filter((part) => part !== undefined).join(' ');
  if (change.unreachable) {
    const until = configPath ? `${configPath} is saved again` : 'the pool is reloaded';
    return {
      level: 'warn',
      text: `key ${change.key} is ${change.reason}; it will not be used until ${until}`,
    };
  }
  if (change.to === 'invalid')
    return { level: 'warn', text: `key ${change.key} was rejected (${answer}); it will not be used again` };
  if (change.to === 'exhausted')
    return {
      level: 'warn',
      text: `key ${change.key} has no quota left (${answer}); it will not be used again`,
    };
  if (change.to === 'denied')
    return { level: 'warn', text: `key ${change.key} has no access to model ${change.model} (${answer})` };
  return { level: 'debug', text: `key ${change.key}: ${change.from} -> ${change.to}` };
}

/** `no usable key until … (2 exhausted, 1 cooling): waiting for up to 60 s; edit config.json …`. */
export function blockedLine(input: {
  until: number;
  giveUp: boolean;
  waitTimeoutMs: number;
  configPath: string | undefined;
  why: string;
}): string {
  const where = input.configPath
    ? `edit ${input.configPath} to add or fix a key (it is watched)`
    : 'no config file is watched: add keys with pool.reload()';
  const seconds = Math.round(input.waitTimeoutMs / 1000);
  const wait = input.giveUp
    ? `stopping (the wait timeout is ${seconds} s)`
    : Number.isFinite(input.waitTimeoutMs)
      ? `waiting for up to ${seconds} s`
      : 'waiting';
  const until = Number.isFinite(input.until) ? ` until ${new Date(input.until).toISOString()}` : '';
  return `no usable key${until} (${input.why}): ${wait}; ${where}`;
}

/** The message of a wait that cannot end within the wait timeout (`until`: when the soonest key is usable). */
export function stopLine(waitTimeoutMs: number, until: number, why: string): string {
  const seconds = Math.round(waitTimeoutMs / 1000);
  const soonest = Number.isFinite(until)
    ? `: the soonest key is usable at ${new Date(until).toISOString()}`
    : '';
  return `no usable key within the wait timeout of ${seconds} s${soonest} (${why})`;
}
