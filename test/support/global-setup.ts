import { jetstreamManager } from "@nats-io/jetstream";
import { connectNats, serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { reconcileTelemetryStream } from "../../lib/jetstream/index.ts";
import { createLogger } from "../../lib/log/index.ts";
import { ensureRoleLogins, migrateClickHouse, migratePostgres } from "../../lib/migrate/index.ts";
import { TEST_ENV } from "./env.ts";

/**
 * Runs once before the suite on the stack that `npm test` brought up: migrates the test databases and
 * reconciles the test stream (so its size limit is the tests' before any suite creates another stream).
 */
export default async function setup() {
  Object.assign(process.env, TEST_ENV);
  const config = loadConfig();
  const ch = serverExecutor(config.clickhouse);
  try {
    await migrateClickHouse(ch);
  } finally {
    await ch.close();
  }
  await migratePostgres(config.postgres.url, undefined, config.dataDir);
  await ensureRoleLogins(config.postgres.url, config.dataDir);
  const log = createLogger("test-setup", "warn");
  const nats = await connectNats(config.nats.servers, "smstats-test-setup", log);
  try {
    await reconcileTelemetryStream(await jetstreamManager(nats.nc), config, log);
  } finally {
    await nats.nc.close();
  }
}
