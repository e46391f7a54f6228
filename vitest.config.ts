import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The replica suites need PostgreSQL and Redis (vitest.replicas.config.ts, `npm run test:replicas`): `npm test` stays self-contained.
    exclude: [...configDefaults.exclude, 'test/replicas/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // End-to-end suites start HTTP servers on port 0 and SQLite files in temp dirs,
    // so files can run in parallel; two workers match the 2-core CI machine.
    maxWorkers: 2,
  },
});
