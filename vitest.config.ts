import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'default',
          include: ['test/unit/**/*.test.ts', 'test/app/**/*.test.ts', 'test/integration/**/*.test.ts'],
          globalSetup: ['test/support/globalSetup.ts'],
          // The integration tests share one DC; files run in parallel, each in its own OU.
          fileParallelism: true,
        },
      },
      {
        // npm run test:faults: the built executable against a DC of its own, which the
        // scenarios stop, slow down and restart, so its files run one at a time.
        extends: true,
        test: {
          name: 'faults',
          include: ['test/faults/**/*.test.ts'],
          globalSetup: ['test/faults/globalSetup.ts'],
          fileParallelism: false,
          testTimeout: 180_000,
        },
      },
    ],
  },
});
