/** keybatch/distributed: `keybatch worker` (a BullMQ worker running tasks over a shared pool) and the types of a distributed run. */
export type { DistributedStatus } from './coordinator.js';
export type { DistributedOptions } from './options.js';
export { type StartWorkerOptions, startWorker, type WorkerHandle } from './worker.js';
export type { WorkerStatus } from './worker-watch.js';
