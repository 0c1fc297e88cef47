import { defineConfig } from 'vitest/config';
import ProblemsReporter from './scripts/problems-reporter.js';

// Workspace packages export their TypeScript sources under the '@ravenhelm/source' condition,
// so tests run against src/ without a build step.
const conditions = ['@ravenhelm/source', 'node', 'import', 'default'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: conditions } },
  test: {
    include: ['**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // With VITEST_JSON (CI), also the JSON report and the errors it leaves out (failed hooks, unhandled).
    reporters: process.env.VITEST_JSON
      ? [
          'default',
          ['json', { outputFile: process.env.VITEST_JSON }],
          new ProblemsReporter(`${process.env.VITEST_JSON}.problems.json`),
        ]
      : ['default'],
  },
});
