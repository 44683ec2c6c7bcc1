import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Each file starts its own redis-server, so files run in parallel safely.
    fileParallelism: true,
    pool: 'forks',
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
