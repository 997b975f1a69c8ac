/** Progress as a run of one model sees its keys: a key refused that model is not "ready". */
import type { KeyStatus } from '../keys/types.js';
import type { Progress } from '../pool/progress.js';

/** `progress` with the ready keys denied `model` counted as `denied` instead. */
export function excludeDenied(progress: Progress, keys: readonly KeyStatus[], model: string): Progress {
  const denied = keys.filter((key) => key.state === 'ready' && key.deniedModels.includes(model)).length;
  if (denied === 0) return progress;
  return {
    ...progress,
    keys: { ...progress.keys, ready: Math.max(0, progress.keys.ready - denied), denied },
  };
}
