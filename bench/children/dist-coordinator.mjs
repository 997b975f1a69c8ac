/**
 * One run of the distributed benchmark, alone in this process, on the built library:
 *
 *   node bench/children/dist-coordinator.mjs <local|distributed> <config.json> <input> <output> <task> <chunkSize> <threads|window> [redis]
 *
 * `local`: runPipeline on worker threads (this process does everything); `distributed`: the
 * coordinator, its chunks run by `keybatch worker` processes already started. Prints one JSON
 * line: { items, ms, cpuMs } (cpuMs: this process's CPU).
 */
/** @type {typeof import('../../dist/index.js')} */
const { runPipeline, silentLogger } = await import(process.env.KEYBATCH_DIST ?? '../../dist/index.js');

const [mode, config, input, output, task, chunkArg, sizeArg, redis] = process.argv.slice(2);
if (!mode || !config || !input || !output || !task) throw new Error('usage: see the header');
const size = Number(sizeArg ?? 2);
const started = performance.now();
const cpu = process.cpuUsage();
const { stats } = await runPipeline(config, input, task, {
  output,
  chunkSize: Number(chunkArg ?? 10),
  resume: false,
  handleSignals: false,
  logger: silentLogger,
  pool: { notify: false, watch: false },
  ...(mode === 'local'
    ? { workers: size, concurrency: 4 }
    : { distributed: { redis: /** @type {string} */ (redis), window: size } }),
});
if (stats.failed > 0) throw new Error(`${stats.failed} items failed: ${JSON.stringify(stats.failures[0])}`);
const used = process.cpuUsage(cpu);
process.stdout.write(
  `${JSON.stringify({ items: stats.done, ms: performance.now() - started, cpuMs: (used.user + used.system) / 1000 })}\n`,
);
