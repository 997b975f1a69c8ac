/** Local lanes: running a task on a chunk in-process or on piscina threads, and the key broker threads lease through (the thread entry is loaded by URL). */
export type { TaskContext, TaskFunction } from './types.js';
