import os from 'node:os';
import { defineConfig } from 'vitest/config';
import SummaryReporter from './test/summary-reporter.js';

// Vitest's default is one worker fewer than the cores: one worker on the 2-core machines here,
// where a second one takes the suite from about 180 s to about 120 s (three runs, no failure).
const cores = os.availableParallelism();

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    maxWorkers: Math.min(cores, Math.max(2, cores - 1)),
    reporters: ['default', new SummaryReporter()],
  },
});
