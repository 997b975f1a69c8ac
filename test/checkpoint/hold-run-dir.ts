// A child process for the lock tests: opens the run directory given as argv[2], records item 0 on
// lane 0, says "ready" on stdout, and then holds the directory until it is killed.
import { openRunDir } from '../../src/checkpoint/index.js';

const dir = process.argv[2]!;
const run = await openRunDir(dir, { fingerprint: 'a'.repeat(64), options: { model: 'm' } });
run.openLane(0).append([{ i: 0, r: 'from the child' }]);
process.stdout.write('ready\n');
setInterval(() => {}, 1 << 30);
