/**
 * A fresh start (`--fresh` / `resume: false`) over a checkpoint that holds answers throws away
 * answers already paid for: say so, once, with how many, before anything is discarded.
 */
import type { Logger } from '../logger.js';
import { readRunStatus } from '../pipeline/status.js';

/** Warns that the answers recorded for `output` are about to be discarded; silent when there are none. */
export async function warnFreshStart(output: string, logger: Logger): Promise<void> {
  // No checkpoint, or one that cannot be read: nothing known to be lost (the run dir says the rest).
  const status = await readRunStatus(output).catch(() => undefined);
  const recorded = status ? status.done + status.failed : 0;
  if (!status || recorded === 0) return;
  const answers = recorded === 1 ? 'the 1 answer' : `the ${recorded} answers`;
  logger.warn(
    `starting over (--fresh / resume: false): ${answers} recorded in ${status.checkpoint} are discarded (they were paid for)`,
  );
}
