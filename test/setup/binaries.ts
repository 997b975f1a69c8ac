/**
 * Vitest global setup: the system binaries the tests drive. Debian's `chromium` for the dashboard's
 * browser tests, `redis-server` for the shared-pool tests, `nginx` (package `nginx-light`) and
 * `haproxy` for the real rate limiters in front of the simulator (test/limiters). When one is missing and this is a root
 * shell with apt-get (CI, a fresh machine), it is installed; otherwise the run stops at once with an
 * error naming what is missing and the command that installs it.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Binary name → Debian package. */
const NEEDED: Readonly<Record<string, string>> = {
  chromium: 'chromium',
  'redis-server': 'redis-server',
  nginx: 'nginx-light',
  haproxy: 'haproxy',
};

/** Debian installs nginx and haproxy in sbin, which a non-login shell's PATH may lack. */
const SBIN = ['/usr/sbin', '/usr/local/sbin'];

function onPath(binary: string): boolean {
  for (const dir of [...(process.env['PATH'] ?? '').split(delimiter), ...SBIN]) {
    if (!dir) continue;
    try {
      accessSync(join(dir, binary), constants.X_OK);
      return true;
    } catch {}
  }
  return false;
}

const missing = () => Object.keys(NEEDED).filter((binary) => !onPath(binary));

export default function setup(): void {
  const absent = missing();
  if (absent.length === 0) return;
  const packages = absent.map((binary) => NEEDED[binary]!);
  const command = `apt-get update && apt-get install -y ${packages.join(' ')}`;
  if (onPath('apt-get') && process.getuid?.() === 0) {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'], env });
    execFileSync('apt-get', ['install', '-y', '-qq', ...packages], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env,
    });
    if (missing().length === 0) return;
  }
  throw new Error(
    `The tests need ${absent.join(' and ')}, which ${absent.length > 1 ? 'are' : 'is'} not installed: run \`${command}\` as root`,
  );
}
