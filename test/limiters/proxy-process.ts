/**
 * A real reverse proxy (nginx, HAProxy) as a child process for the tests and the benchmark: its
 * config written to a temp dir, listening on a free loopback port, stopped (and its dir removed) by
 * `stop()`. A missing binary fails at once with the Debian package that brings it; a proxy that
 * exits before it listens fails with what it printed. No vitest here, so `bench/` uses it too.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** How long a proxy may take to listen on a busy machine (it takes milliseconds on a quiet one). */
const START_TIMEOUT_MS = 20_000;
/** How long it may take to exit after SIGTERM (nginx and HAProxy close at once) before SIGKILL. */
const STOP_TIMEOUT_MS = 5_000;
/** How often the port is tried while the proxy starts. */
const POLL_MS = 25;

export interface ProxySpec {
  /** What it is, for messages: `nginx limit_req`. */
  readonly name: string;
  /** The binary, looked up on PATH and in /usr/sbin (Debian puts both proxies there). */
  readonly binary: string;
  /** The Debian package that installs it. */
  readonly debianPackage: string;
  /** Writes the config files into `dir` for `port`; returns the binary's arguments. */
  configure(dir: string, port: number): Promise<string[]>;
}

export interface ProxyProcess {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  readonly port: number;
  /** The temp dir holding its config and logs. */
  readonly dir: string;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  stop(): Promise<void>;
}

/** The binary's path, or undefined when neither PATH nor /usr/sbin has it. */
export function findBinary(binary: string): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    try {
      accessSync(join(dir, binary), constants.X_OK);
      return join(dir, binary);
    } catch {}
  }
  return undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Resolves once `port` accepts connections; rejects if the child exits or the time runs out first. */
async function waitForPort(child: ChildProcess, spec: ProxySpec, port: number, output: () => string) {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `${spec.name} exited (${child.exitCode ?? child.signalCode}) before listening:\n${output()}`,
      );
    }
    if (await listening(port)) return;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  throw new Error(
    `${spec.name} did not listen on 127.0.0.1:${port} within ${START_TIMEOUT_MS} ms:\n${output()}`,
  );
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export async function startProxy(spec: ProxySpec): Promise<ProxyProcess> {
  const binary = findBinary(spec.binary);
  if (!binary) {
    throw new Error(
      `${spec.name} needs \`${spec.binary}\`, which is not installed: run \`apt-get install -y ${spec.debianPackage}\` as root`,
    );
  }
  const dir = await mkdtemp(join(tmpdir(), `keybatch-${spec.binary}-`));
  const port = await freePort();
  const args = await spec.configure(dir, port);
  const child = spawn(binary, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  // A test that timed out never reaches its stop(): the proxy goes with the process that started it.
  const orphaned = () => child.kill('SIGKILL');
  process.once('exit', orphaned);
  child.once('exit', () => process.off('exit', orphaned));
  let text = '';
  const append = (chunk: Buffer) => {
    text += chunk.toString();
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (error) => reject(new Error(`${spec.name} could not start: ${error.message}`)));
  });
  try {
    await spawned;
    await waitForPort(child, spec, port, () => text);
  } catch (error) {
    await stopChild(child);
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    origin: `http://127.0.0.1:${port}`,
    port,
    dir,
    output: () => text,
    async stop() {
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
