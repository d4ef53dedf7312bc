import { serverExecutor } from "../../lib/clients/index.ts";
import { loadConfig } from "../../lib/config/index.ts";
import { migrateClickHouse, migratePostgres } from "../../lib/migrate/index.ts";
import { TEST_ENV } from "./env.ts";

/** Runs once before the suite: migrates the test databases on the stack that `npm test` brought up. */
export default async function setup() {
  Object.assign(process.env, TEST_ENV);
  const config = loadConfig();
  const ch = serverExecutor(config.clickhouse);
  try {
    await migrateClickHouse(ch);
  } finally {
    await ch.close();
  }
  await migratePostgres(config.postgres.url);
}
