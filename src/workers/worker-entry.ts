/**
 * The worker-thread entry piscina loads (by URL, never imported by the library's index): runs one
 * chunk of the user's task module with a client that leases keys from the main thread.
 */
import { threadId } from 'node:worker_threads';
import { serializeError } from '../errors.js';
import { createClient } from '../keys/client.js';
import { PortBroker } from './broker-client.js';
import { loadTask } from './load-task.js';
import type { ThreadReply, ThreadTask } from './protocol.js';

export default async function runChunk(task: ThreadTask): Promise<ThreadReply> {
  const controller = new AbortController();
  const broker = new PortBroker(task.port, () => controller.abort());
  try {
    const fn = await loadTask(task.module);
    const client = createClient(broker, { ...task.client, workerId: task.workerId });
    const results = await fn(task.chunk, {
      workerId: task.workerId,
      chunkIndex: task.chunkIndex,
      client,
      signal: controller.signal,
      args: task.args,
    });
    return { ok: true, results, threadId };
  } catch (error) {
    return { ok: false, error: serializeError(error) };
  } finally {
    task.port.close();
  }
}
