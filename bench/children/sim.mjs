/**
 * The simulator in its own process, so its CPU does not distort the client's on a small machine.
 *
 *   node bench/children/sim.mjs <scenario.json | inline JSON>
 *
 * Starts `startSimulator` (built library) from the scenario (SimulatorOptions as JSON) and prints
 * its URL on stdout. When forked with an IPC channel it also answers `{ id, cmd }` messages:
 * `stats`, `requests`, `setKeys` (with `keys`), `resetStats`, `close`. It exits when its parent
 * goes away, on SIGTERM/SIGINT, or on `close`.
 */
import { readFileSync } from 'node:fs';
import { startSimulator } from '../../dist/index.js';

const arg = process.argv[2];
if (!arg) {
  process.stderr.write('usage: node bench/children/sim.mjs <scenario.json | JSON>\n');
  process.exit(2);
}
const scenario = JSON.parse(arg.trimStart().startsWith('{') ? arg : readFileSync(arg, 'utf8'));
const sim = await startSimulator(scenario);
process.stdout.write(`${sim.url}\n`);

const stop = async () => {
  await sim.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

if (process.send) {
  /** @param {{ id: number, value: unknown }} message */
  const reply = (message) => process.send?.(message);
  process.on('disconnect', stop);
  process.on('message', (/** @type {{ id: number, cmd: string, keys?: unknown }} */ message) => {
    const { id, cmd } = message;
    if (cmd === 'stats') reply({ id, value: sim.stats() });
    else if (cmd === 'requests') reply({ id, value: sim.requests() });
    else if (cmd === 'setKeys') {
      sim.setKeys(/** @type {any} */ (message.keys));
      reply({ id, value: null });
    } else if (cmd === 'resetStats') {
      sim.resetStats();
      reply({ id, value: null });
    } else if (cmd === 'close') {
      reply({ id, value: null });
      void stop();
    }
  });
  reply({ id: 0, value: sim.url });
}
