import { MemoryStore } from '/work/main/src/keys/domain/store.js';
import { describeScenario, drawScenario } from '/work/main/test/keys/pacing/space/draw.js';
import { type HarnessPacer, runScenario } from '/work/main/test/keys/pacing/space/run.js';

const seed = Number(process.argv[2]);
const every = Number(process.argv[3] ?? 1000);
const s = drawScenario(seed);
console.log(describeScenario(s));
const r = runScenario(s, (processes) => {
  const store = new MemoryStore();
  const st = () => (store as any).domains.get('domain');
  const pending = new Map<number, number>();
  let last = -1e9;
  let served = 0,
    refused = 0,
    errors = 0;
  const pacer: HarnessPacer = {
    readyAt(now, tokens) {
      const rsv = store.reserve('domain', now, tokens);
      if (rsv.seq === undefined) return now + rsv.waitMs;
      pending.set(now, rsv.seq);
      return now;
    },
    onSend(now) {
      const q = pending.get(now)!;
      pending.delete(now);
      return q;
    },
    onAnswer(now, a) {
      const v = store.answer('domain', now, a);
      if (v === 'served') served++;
      else if (v === 'refused') refused++;
      else errors++;
      if (now - last >= every) {
        last = now;
        const x = st();
        console.log(
          `t=${(now / 1000).toFixed(2)} pace=${(x.rate * 1000).toFixed(2)}/s cap=${x.cap.toFixed(1)} infl=${x.inFlight} paused=${Math.max(0, x.pausedUntil - now).toFixed(0)} run=${x.refusalRun} good=${(x.good * 1000).toFixed(1)} cost=${x.refusalCost.toFixed(0)} served=${served} refused=${refused} err=${errors} lat=${x.latencySlow.toFixed(0)}/${x.latencyFast.toFixed(0)}`,
        );
      }
    },
  };
  return new Array(processes).fill(pacer);
});
console.log(r, 'perSecond', s.perSecond, 'after', s.perSecondAfter);
