import { judge, masterSeed } from './judge.js';
import { lawPacer } from './law.js';

const j = judge(lawPacer, masterSeed(), Number(process.argv[2] ?? 400));
const by = new Map<string, { u: number[]; r: number[] }>();
for (const { scenario: s, result } of j.runs) {
  const hdr = ['bucket', 'fixed', 'sliding', 'gcra'].includes(s.kind)
    ? s.dialect === 'none'
      ? ' none'
      : ' headers'
    : '';
  const k = s.kind + hdr;
  const e = by.get(k) ?? { u: [], r: [] };
  e.u.push(result.utilisation);
  e.r.push(result.refused);
  by.set(k, e);
}
const all = j.runs.map((r) => r.result.refused).sort((a, b) => a - b);
console.log(
  `p1 ${j.p1.toFixed(3)} p50 ${j.p50.toFixed(3)} refused p90 ${all[Math.floor(0.9 * all.length)]!.toFixed(3)} p99 ${j.refusedP99.toFixed(3)} worst ${j.worst.result.utilisation.toFixed(3)} ${Math.round(j.ms)}ms`,
);
for (const [k, e] of [...by].sort()) {
  e.u.sort((a, b) => a - b);
  e.r.sort((a, b) => a - b);
  console.log(
    `| ${k} | ${e.u.length} | ${e.u[Math.floor(e.u.length / 2)]!.toFixed(2)} | ${e.u[0]!.toFixed(2)} | ${(100 * e.r[e.r.length - 1]!).toFixed(1)}% | p50 ref ${(100 * e.r[Math.floor(e.r.length / 2)]!).toFixed(1)}%`,
  );
}
