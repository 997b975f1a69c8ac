/** The law in the harness: every process on one in-memory domain store (what they share). */
import { MemoryStore } from '../../../../src/keys/domain/store.js';
import type { HarnessPacer, PacerFactory } from './run.js';

export const lawPacer: PacerFactory = (processes) => {
  const store = new MemoryStore();
  const pending = new Map<number, number>();
  const pacer: HarnessPacer = {
    readyAt(now, tokens) {
      const reservation = store.reserve('domain', now, tokens);
      if (reservation.seq === undefined) return now + reservation.waitMs;
      pending.set(now, reservation.seq);
      return now;
    },
    onSend(now) {
      const seq = pending.get(now)!;
      pending.delete(now);
      return seq;
    },
    onAnswer: (now, answer) => void store.answer('domain', now, answer),
  };
  return new Array(processes).fill(pacer);
};
