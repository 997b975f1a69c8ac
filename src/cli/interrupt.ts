/**
 * Ctrl-C during a run: the first aborts it through its AbortController (what finished is already
 * checkpointed; the run then stops, resumable, and the command exits 3); a second exits 130 at once.
 */
import type { Display } from './progress.js';

export function abortOnSigint(controller: AbortController, display: Display): () => void {
  let count = 0;
  const onSigint = () => {
    count += 1;
    if (count > 1) {
      display.stop();
      process.stderr.write('keybatch: interrupted again: exiting now (rerun the same command to resume)\n');
      process.exit(130);
    }
    display.line('interrupted: stopping; finished work is checkpointed (Ctrl-C again exits at once)');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  return () => {
    process.off('SIGINT', onSigint);
  };
}
