/**
 * The worker-thread entry piscina loads (by URL, never imported by the library's index): runs one
 * chunk of the user's task module with a client that leases keys from the main thread.
 */
import { setMaxListeners } from 'node:events';
import { threadId } from 'node:worker_threads';
import { encodeResults } from '../checkpoint/record.js';
import { serializeError } from '../errors.js';
import { createClient } from '../keys/client.js';
import { isFinalRequestError } from '../keys/final-request.js';
import { AnswerMemo, memoFetch } from './answer-memo.js';
import { PortBroker } from './broker-client.js';
import { loadTask } from './load-task.js';
import type { ThreadReply, ThreadTask } from './protocol.js';
import { checkResults } from './results.js';

const parseLine = (line: string): unknown => JSON.parse(line);

export default async function runChunk(task: ThreadTask): Promise<ThreadReply> {
  const controller = new AbortController();
  // A chunk's requests all listen on it (`Promise.all(chunk.map(… { signal }))`): no limit.
  setMaxListeners(0, controller.signal);
  const broker = new PortBroker(task.port, () => controller.abort());
  const memo = task.memo ? new AnswerMemo(task.memo) : undefined;
  const withMemo = <T extends ThreadReply>(reply: T): T => (memo ? { ...reply, memo: memo.report() } : reply);
  try {
    const fn = await loadTask(task.module);
    const client = createClient(broker, {
      ...task.client,
      workerId: task.workerId,
      ...(memo ? { wrapFetch: (fetch: typeof globalThis.fetch) => memoFetch(fetch, memo) } : {}),
    });
    const chunk = task.lines
      ? Buffer.from(task.lines).toString('utf8').split('\n').map(parseLine)
      : task.chunk;
    const returned = await fn(chunk, {
      workerId: task.workerId,
      chunkIndex: task.chunkIndex,
      client,
      signal: controller.signal,
      args: task.args,
    });
    const results = checkResults(returned, chunk.length, task.chunkIndex);
    // Results encoded here, in the thread, are bytes for the main thread to write: it neither
    // clones them back nor serialises them.
    if (task.indices) return withMemo({ ok: true, encoded: encodeResults(task.indices, results), threadId });
    return withMemo({ ok: true, results, threadId });
  } catch (error) {
    await memo?.settled();
    const reply: Extract<ThreadReply, { ok: false }> = { ok: false, error: serializeError(error) };
    if (isFinalRequestError(error)) reply.final = true;
    return withMemo(reply);
  } finally {
    task.port.close();
  }
}
