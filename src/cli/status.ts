/** `keybatch status <output.jsonl>`: done / failed / pending of a run, from its checkpoint, read-only. */
import { readRunStatus } from '../index.js';
import { EXIT } from './errors.js';

/** Prints one `name: value` line per fact (stdout). Resolves to the exit code. */
export async function statusCommand(output: string): Promise<number> {
  const status = await readRunStatus(output);
  const lines = [
    `output: ${status.output}`,
    `output written: ${status.outputWritten ? 'yes' : 'no'}`,
    `checkpoint: ${status.checkpoint}`,
    `total: ${status.total ?? 'unknown'}`,
    `done: ${status.done}`,
    `failed: ${status.failed}`,
    `pending: ${status.pending ?? 'unknown'}`,
    `complete: ${status.complete}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return EXIT.ok;
}
