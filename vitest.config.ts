import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Installs (or names) the system binaries the tests drive: chromium, redis-server, nginx, haproxy;
    // builds dist/ when src/ is newer (the CLI tests run the built command).
    globalSetup: ['test/setup/binaries.ts', 'test/setup/build.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    fileParallelism: true,
  },
});
