import { configDefaults, defineConfig } from "vitest/config";
import { TEST_ENV } from "./test/support/env.ts";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The cluster suites run apart: `npm run test:cluster` (vitest.cluster.config.ts).
    exclude: [...configDefaults.exclude, "test/cluster/**"],
    env: { ...TEST_ENV },
    globalSetup: ["test/support/global-setup.ts"],
    // The suites share one local stack (and stop NATS on purpose in one of them): run files one at a time.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 180_000,
    reporters: ["default", "./test/support/summary-reporter.ts"],
  },
});
