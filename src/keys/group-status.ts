/** Per config `group` of a pool's status: its keys and what their answers cost. */
import { addCosts } from '../tokens/cost.js';
import type { GroupStatus, KeyStatus } from './types.js';

/** The groups of `keys` in the order they first appear; keys without a group are not in any. */
export function groupCosts(keys: readonly KeyStatus[]): GroupStatus[] {
  const members = new Map<string, KeyStatus[]>();
  for (const key of keys) {
    if (key.group === undefined) continue;
    const list = members.get(key.group) ?? [];
    list.push(key);
    members.set(key.group, list);
  }
  return [...members].map(([group, list]) => ({
    group,
    keys: list.map((key) => key.key),
    cost: addCosts(list.flatMap((key) => (key.cost ? [key.cost] : []))),
  }));
}
