/** Today's pacer in the harness: one `PacingController` per process (what the pool ran before the law). */
import { PacingController } from '../../../../src/keys/pacing/controller.js';
import type { PacerFactory } from './run.js';

export const todaysPacer: PacerFactory = (processes) =>
  Array.from({ length: processes }, () => new PacingController(0));
