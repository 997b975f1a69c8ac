/**
 * A real redis-server for one test file: started on a free port in its own temp dir, stopped after.
 * `kill()` is a real SIGKILL and `restart()` starts it again on the same port, for the tests of a
 * Redis lost mid-run. If the server cannot start, the test fails saying why: never a silent skip.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';

export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** SIGKILL the server (no save: it comes back empty). */
  kill(): Promise<void>;
  /** Start it again on the same port. */
  restart(): Promise<void>;
  /** Every key and its value, as text (strings, hashes, lists, sets, sorted sets, streams). */
  dump(): Promise<Array<{ key: string; value: string }>>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function launch(port: number, dir: string): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`redis-server did not become ready on port ${port} within 20 s:\n${output}`)),
      20_000,
    );
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(
        new Error(
          `redis-server could not start (${error.message}); install it: apt-get install -y redis-server`,
        ),
      );
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${code}) before it was ready:\n${output}`));
    });
    const poll = setInterval(() => {
      if (output.includes('Ready to accept connections')) {
        clearInterval(poll);
        clearTimeout(timer);
        child.removeAllListeners('exit');
        child.removeAllListeners('error');
        resolve();
      }
    }, 20);
  });
  return child;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function startRedis(): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'keybatch-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined = await launch(port, dir);
  const url = `redis://127.0.0.1:${port}`;
  const stopChild = async (signal: NodeJS.Signals) => {
    if (!child) return;
    const current = child;
    child = undefined;
    current.kill(signal);
    await exited(current);
  };
  return {
    url,
    port,
    kill: () => stopChild('SIGKILL'),
    async restart() {
      await stopChild('SIGKILL');
      child = await launch(port, dir);
    },
    async dump() {
      const client = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
      await client.connect();
      try {
        const entries: Array<{ key: string; value: string }> = [];
        for (const key of await client.keys('*')) {
          const type = await client.type(key);
          let value: unknown;
          if (type === 'string') value = await client.get(key);
          else if (type === 'hash') value = await client.hgetall(key);
          else if (type === 'list') value = await client.lrange(key, 0, -1);
          else if (type === 'set') value = await client.smembers(key);
          else if (type === 'zset') value = await client.zrange(key, '0', '-1', 'WITHSCORES');
          else if (type === 'stream') value = await client.xrange(key, '-', '+');
          else value = `<${type}>`;
          entries.push({ key, value: JSON.stringify(value) });
        }
        return entries;
      } finally {
        client.disconnect();
      }
    },
    async stop() {
      await stopChild('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** One server for the whole test file: `const redis = useRedis();` then `redis().url` inside tests. */
export function useRedis(): () => RedisServer {
  let server: RedisServer | undefined;
  beforeAll(async () => {
    server = await startRedis();
  }, 30_000);
  afterAll(async () => {
    await server?.stop();
  });
  return () => {
    if (!server) throw new Error('the test redis-server is not running (did beforeAll fail?)');
    return server;
  };
}
