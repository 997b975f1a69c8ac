/** Starting the simulator in a child process (`bench/children/sim.mjs`) and talking to it over IPC. */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RecordedRequest, SimKeySpec, SimStats, SimulatorOptions } from '../../src/index.js';

export type SimCommand =
  | { id: number; cmd: 'stats' | 'requests' | 'resetStats' | 'close' }
  | { id: number; cmd: 'setKeys'; keys: SimKeySpec[] };

export interface SimReply {
  id: number;
  value: unknown;
}

export interface RemoteSimulator {
  /** `http://127.0.0.1:<port>/v1`. */
  readonly url: string;
  readonly pid: number;
  stats(): Promise<SimStats>;
  /** The last 2000 requests received (times are the simulator's `Date.now()`). */
  requests(): Promise<RecordedRequest[]>;
  setKeys(keys: SimKeySpec[]): Promise<void>;
  resetStats(): Promise<void>;
  close(): Promise<void>;
}

const CHILD = fileURLToPath(new URL('../children/sim.mjs', import.meta.url));
const START_TIMEOUT_MS = 30_000;

export async function spawnSimulator(scenario: SimulatorOptions): Promise<RemoteSimulator> {
  const child: ChildProcess = fork(CHILD, [JSON.stringify(scenario)], {
    execArgv: [],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const pending = new Map<number, (value: unknown) => void>();
  let nextId = 1;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.on('message', (message: SimReply) => {
    pending.get(message.id)?.(message.value);
    pending.delete(message.id);
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('the simulator child did not start within 30 s'));
    }, START_TIMEOUT_MS);
    pending.set(0, (value) => {
      clearTimeout(timer);
      resolve(value as string);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the simulator child exited with code ${code} before starting`));
    });
  });

  const ask = <T>(command: { cmd: SimCommand['cmd']; keys?: SimKeySpec[] }): Promise<T> => {
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      if (!child.connected) return reject(new Error('the simulator child is gone'));
      pending.set(id, (value) => resolve(value as T));
      child.send({ ...command, id });
    });
  };

  return {
    url,
    pid: child.pid ?? -1,
    stats: () => ask<SimStats>({ cmd: 'stats' }),
    requests: () => ask<RecordedRequest[]>({ cmd: 'requests' }),
    setKeys: (keys) => ask<void>({ cmd: 'setKeys', keys }),
    resetStats: () => ask<void>({ cmd: 'resetStats' }),
    async close() {
      if (child.exitCode === null && child.connected) {
        await ask({ cmd: 'close' }).catch(() => {});
      }
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
