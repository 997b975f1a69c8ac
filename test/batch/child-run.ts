/**
 * A child process for the resume tests: `node --import tsx child-run.ts <config.json> <input.jsonl>
 * <output.jsonl> [cancel]` runs runPrompts with the Batch backend (signals handled as by the CLI)
 * and prints its log lines on stderr; exit 0 done, 3 stopped.
 */
import { runPrompts } from '../../src/prompts/index.js';

const [config, input, output, mode] = process.argv.slice(2) as [string, string, string, string | undefined];
const line = (level: string) => (message: string) => process.stderr.write(`${level}: ${message}\n`);
try {
  const summary = await runPrompts(config, input, {
    output,
    model: 'gpt-4o-mini',
    backend: 'batch',
    shardMaxRequests: 3,
    pollIntervalMs: Number(process.env['KEYBATCH_TEST_POLL_MS'] ?? 40),
    cancel: mode === 'cancel',
    logger: { debug: () => {}, info: line('info'), warn: line('warn'), error: line('error') },
    pool: { watch: false, notify: false },
  });
  process.stderr.write(`summary: ${JSON.stringify({ done: summary.done, failed: summary.failed })}\n`);
} catch (error) {
  process.stderr.write(`stopped: ${(error as Error).name} ${(error as Error).message}\n`);
  process.exitCode = 3;
}
