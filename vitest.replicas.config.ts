import { defineConfig } from 'vitest/config';

/**
 * `npm run test:replicas`: the suites that need the shared services (PostgreSQL on 127.0.0.1:5432, Redis on
 * 127.0.0.1:6379, see .ci/run). They fail, never skip, when a service does not answer. `npm test` leaves them out.
 */
export default defineConfig({
  test: {
    include: ['test/replicas/**/*.test.ts'],
    // Suites that run the bot as processes need dist/src/main.js current: built here, once, when a source changed.
    globalSetup: ['test/replicas/build-bot.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    maxWorkers: 2,
  },
});
