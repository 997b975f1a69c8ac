/**
 * The harness's figures for the report: `npx tsx test/keys/pacing/space/print.ts <today|law> [draws]`
 * (`PACING_SEED=<n>` replays a run).
 */
import { judge, masterSeed, summary } from './judge.js';
import { todaysPacer } from './today.js';

const which = process.argv[2] ?? 'today';
const draws = Number(process.argv[3] ?? 200);
const factories = { today: todaysPacer };
const factory = factories[which as keyof typeof factories];
if (!factory) throw new Error(`print.ts: expected one of ${Object.keys(factories).join(', ')}, got ${which}`);
console.log(summary(judge(factory, masterSeed(), draws)));
