/**
 * Key selection as a pure function: given what each key can do for this request right now, pick
 * one, or say how long to wait, or that no key can serve it.
 */

export interface KeyView {
  /** The key can serve this request at some point without a config edit (ready, or cooling with a known end). */
  usable: boolean;
  /** Earliest time the key (and its group's budget) can take the request. */
  readyAt: number;
  /** Budget headroom 0..1: more headroom takes more load, so load follows what each key can serve. */
  headroom: number;
}

export type Pick =
  | { kind: 'key'; index: number }
  /** `pending`: some key waits for an answer in flight (its budget still learning), not for a time. */
  | { kind: 'wait'; until: number; pending?: true }
  | { kind: 'none' };

/**
 * Among the keys ready now, the one with the most headroom; ties go to the first in rotation order
 * from `start` (worker `i` starts at `key_index + i`, then moves past each key it used).
 */
export function pickKey(keys: readonly KeyView[], start: number, now: number): Pick {
  const n = keys.length;
  let best = -1;
  let bestHeadroom = -1;
  let soonest = Number.POSITIVE_INFINITY;
  let usable = false;
  let pending = false;
  for (let step = 0; step < n; step++) {
    const index = (((start + step) % n) + n) % n;
    const key = keys[index]!;
    if (!key.usable) continue;
    usable = true;
    if (key.readyAt <= now) {
      if (key.headroom > bestHeadroom) {
        best = index;
        bestHeadroom = key.headroom;
      }
    } else if (key.readyAt < soonest) soonest = key.readyAt;
    else if (key.readyAt === Number.POSITIVE_INFINITY) pending = true;
  }
  if (best >= 0) return { kind: 'key', index: best };
  // `until` may be Infinity: wait for an answer in flight (a budget still learning its limits).
  if (usable)
    return pending ? { kind: 'wait', until: soonest, pending: true } : { kind: 'wait', until: soonest };
  return { kind: 'none' };
}
