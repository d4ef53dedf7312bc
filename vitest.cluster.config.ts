import { defineConfig } from "vitest/config";

// `npm run test:cluster`: the suites that need the cluster stack (three NATS servers, ZooKeeper, 2 × 2
// ClickHouse replicas), which they start themselves; they kill its nodes, so they run one file at a time.
export default defineConfig({
  test: {
    include: ["test/cluster/**/*.test.ts"],
    env: { SMSTATS_LOG_LEVEL: "warn" },
    globalSetup: ["test/cluster/setup.ts"],
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 600_000,
  },
});
