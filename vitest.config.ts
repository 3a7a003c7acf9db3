import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Test files share one Redis; each uses its own key prefix, so files may run in parallel.
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
  },
});
