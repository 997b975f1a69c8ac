/** Starting a real proxy: a missing binary names its Debian package; a bad config shows what the proxy said. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startProxy } from './proxy-process.js';

describe('startProxy', () => {
  it('a missing binary fails at once, naming the Debian package that installs it', async () => {
    await expect(
      startProxy({
        name: 'nginx limit_req',
        binary: 'nginx-not-installed-here',
        debianPackage: 'nginx-light',
        configure: async () => [],
      }),
    ).rejects.toThrow(/nginx limit_req needs `nginx-not-installed-here`.*apt-get install -y nginx-light/);
  });

  it('a proxy that exits before it listens fails with what it printed', async () => {
    await expect(
      startProxy({
        name: 'nginx with a bad config',
        binary: 'nginx',
        debianPackage: 'nginx-light',
        async configure(dir) {
          const conf = join(dir, 'nginx.conf');
          await writeFile(conf, 'daemon off;\nno_such_directive on;\n');
          return ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf];
        },
      }),
    ).rejects.toThrow(/nginx with a bad config exited \(1\) before listening:[\s\S]*no_such_directive/);
  });
});
