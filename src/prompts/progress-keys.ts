/**
 * Progress as a run of one model sees its keys: a key refused that model, or whose config `models`
 * leaves it out, is not "ready".
 */
import type { KeyStatus } from '../keys/types.js';
import type { Progress } from '../pipeline/progress.js';

/** `progress` with the ready keys that cannot serve `model` counted as `denied` instead. */
export function excludeDenied(progress: Progress, keys: readonly KeyStatus[], model: string): Progress {
  const cannot = (key: KeyStatus) =>
    key.deniedModels.includes(model) || (key.models !== undefined && !key.models.includes(model));
  const denied = keys.filter((key) => key.state === 'ready' && cannot(key)).length;
  if (denied === 0) return progress;
  return {
    ...progress,
    keys: { ...progress.keys, ready: Math.max(0, progress.keys.ready - denied), denied },
  };
}
