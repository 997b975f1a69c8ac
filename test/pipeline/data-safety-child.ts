// A child process for the data-safety tests: a file-to-file runPipeline (one lane, one item per
// chunk) whose task answers items below argv[4] at once and then hangs on the next one, after
// saying "holding <n>" on stdout: the run directory is then held, with <n> records in it.
import { runPipeline } from '../../src/index.js';

const [input, output, holdAt] = process.argv.slice(2);
const config = { key_list: [{ api_key: 'sk-offline-test-key-0000' }] };
setInterval(() => {}, 1 << 30); // stays alive while the task hangs
await runPipeline<{ n: number }, { n: number; by: string }>(
  config,
  input!,
  async (chunk) => {
    if (chunk[0]!.n >= Number(holdAt)) {
      process.stdout.write(`holding ${chunk[0]!.n}\n`);
      await new Promise(() => {});
    }
    return chunk.map((item) => ({ n: item.n, by: 'child' }));
  },
  { output: output!, workers: 1, chunkSize: 1, pool: { notify: false, watch: false } },
);
