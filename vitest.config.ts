import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Installs (or names) the system binaries the tests drive: chromium, redis-server, nginx, haproxy;
    // builds dist/ when src/ is newer (the CLI tests run the built command).
    globalSetup: ['test/setup/binaries.ts', 'test/setup/build.ts'],
    // Generous: CLI tests spawn several children in turn, and the suite must hold with both cores busy.
    testTimeout: 90_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: true,
    // Two files at once on a 2-core machine: most files wait on real HTTP, child processes, Redis
    // and browsers, not on the CPU (vitest's default is cores - 1: one file at a time here).
    maxWorkers: 2,
  },
});
