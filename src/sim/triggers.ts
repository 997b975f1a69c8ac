/**
 * Deterministic triggers written into the last user message (or the prompt / input text):
 *
 * - `[[sim:500]]` — always answer that status (any 3-digit status: 400, 408, 429, 503 …)
 * - `[[sim:500x2]]` — the first 2 times this exact text is seen answer 500, then normally
 * - `[[sim:drop]]`, `[[sim:dropx1]]` — destroy the connection (always / the first N times)
 * - `[[sim:hang]]`, `[[sim:hangx1]]` — never answer (always / the first N times)
 * - `[[sim:sleep=250]]` — add 250 ms latency
 * - `[[sim:expire]]`, `[[sim:expirex1]]` — in a batch line only: the line never completes within the
 *   window (always / the first N times), so its batch expires (see `batch-lines.ts`)
 *
 * The first status/drop/hang trigger in the text applies; sleeps add up.
 */

export type TriggerAction = { kind: 'status'; status: number } | { kind: 'drop' } | { kind: 'hang' };

export interface ParsedTriggers {
  action: TriggerAction | null;
  /** How many times the action applies for this exact text; `null`: always. */
  times: number | null;
  sleepMs: number;
}

const TRIGGER = /\[\[sim:([^\]]*)\]\]/g;
const STATUS = /^(\d{3})(?:x(\d+))?$/;
const FAULT = /^(drop|hang)(?:x(\d+))?$/;
const SLEEP = /^sleep=(\d+)$/;

/** Parses the triggers of a text; `null` when it has none. */
export function parseTriggers(text: string): ParsedTriggers | null {
  if (!text.includes('[[sim:')) return null;
  const parsed: ParsedTriggers = { action: null, times: null, sleepMs: 0 };
  let found = false;
  for (const match of text.matchAll(TRIGGER)) {
    const spec = (match[1] ?? '').trim();
    const sleep = SLEEP.exec(spec);
    if (sleep) {
      parsed.sleepMs += Number(sleep[1]);
      found = true;
      continue;
    }
    if (parsed.action) continue;
    const status = STATUS.exec(spec);
    const fault = status ? null : FAULT.exec(spec);
    if (status) {
      const code = Number(status[1]);
      if (code < 100 || code > 599) continue;
      parsed.action = { kind: 'status', status: code };
      parsed.times = status[2] === undefined ? null : Number(status[2]);
      found = true;
    } else if (fault) {
      parsed.action = { kind: fault[1] === 'drop' ? 'drop' : 'hang' };
      parsed.times = fault[2] === undefined ? null : Number(fault[2]);
      found = true;
    }
  }
  return found ? parsed : null;
}

/** Remembers how often each counted-trigger text was seen, so `x N` triggers stop after N times. */
export class TriggerMemory {
  readonly #seen = new Map<string, number>();

  /**
   * The trigger outcome for this occurrence of `text`: its action (or `null` once a counted
   * action is used up) and its added latency.
   */
  evaluate(text: string): { action: TriggerAction | null; sleepMs: number } | null {
    const parsed = parseTriggers(text);
    if (!parsed) return null;
    if (parsed.action === null || parsed.times === null)
      return { action: parsed.action, sleepMs: parsed.sleepMs };
    const seen = this.#seen.get(text) ?? 0;
    this.#seen.set(text, seen + 1);
    return { action: seen < parsed.times ? parsed.action : null, sleepMs: parsed.sleepMs };
  }
}
