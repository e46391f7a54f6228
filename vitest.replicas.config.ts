import { defineConfig } from 'vitest/config';

/**
 * The suites that need the shared services of a multi-replica setup (PostgreSQL, Redis): `npm run test:replicas`.
 * A service that does not answer fails its suite; nothing here is skipped.
 */
export default defineConfig({
  test: {
    include: ['test/replicas/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    maxWorkers: 2,
  },
});
