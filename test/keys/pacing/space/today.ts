/** Today's pacer in the harness: one `PacingController` per process (what the pool ran before the law). */

import type { PacerFactory } from './run.js';
import { PacingController } from './today/controller.js';

export const todaysPacer: PacerFactory = (processes) =>
  Array.from({ length: processes }, () => new PacingController(0));
