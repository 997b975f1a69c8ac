/**
 * The harness's figures for the report: `npx tsx test/keys/pacing/space/print.ts <today|law> [draws]`
 * (`PACING_SEED=<n>` replays a run).
 */
import { describeScenario } from './draw.js';
import { judge, masterSeed, summary } from './judge.js';
import { lawPacer } from './law.js';
import { todaysPacer } from './today.js';

const which = process.argv[2] ?? 'today';
const draws = Number(process.argv[3] ?? 200);
const factories = { today: todaysPacer, law: lawPacer };
const factory = factories[which as keyof typeof factories];
if (!factory) throw new Error(`print.ts: expected one of ${Object.keys(factories).join(', ')}, got ${which}`);
const judged = judge(factory, masterSeed(), draws);
console.log(summary(judged));
if (process.env['VERBOSE']) {
  const bad = judged.runs.filter((r) => r.result.utilisation < 0.9 || r.result.refused > 0.03);
  for (const { scenario, result } of bad)
    console.log(
      `${result.utilisation.toFixed(3)} ${(100 * result.refused).toFixed(1)}%  ${describeScenario(scenario)}`,
    );
}
