import { defineConfig } from 'vitest/config'

/**
 * Tests that start whole gateways as child processes (dev mode, the conformance CLI against it,
 * the crash test, two racing gateway processes). They run after the others, one file at a time:
 * they measure start-up and recovery, which two cores shared with the rest of the suite distort.
 */
const E2E = ['adapters/cli/dev.test.ts', 'conformance/acceptance.test.ts', 'core/pipeline/crash.test.ts', 'adapters/gateway/idempotencyRace.test.ts', 'adapters/gateway/walletCapRace.test.ts', 'adapters/http/routes/tokens.processes.test.ts', 'adapters/mcp/acceptance.test.ts']

export default defineConfig({
  test: {
    pool: 'forks',
    // Two cores: more workers only thrash fsync-bound store tests.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    globalSetup: ['./core/testing/globalSetup.ts'],
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['**/*.test.ts'], exclude: ['node_modules/**', 'dist/**', 'data/**', ...E2E] },
      },
      {
        extends: true,
        test: { name: 'e2e', include: E2E, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
})
