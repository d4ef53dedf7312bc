import { loadConfig } from "../config/index.ts";
import { createLogger } from "../log/index.ts";
import { migrateAll } from "./index.ts";

// `npm run migrate`: applies pending ClickHouse and PostgreSQL migrations and prints what it did.
const config = loadConfig();
const log = createLogger("migrate", config.logLevel);
const report = await migrateAll(config, log);
log.info(
  {
    clickhouseApplied: report.clickhouse.applied,
    postgresApplied: report.postgres.applied,
    clickhouseAlready: report.clickhouse.alreadyApplied.length,
    postgresAlready: report.postgres.alreadyApplied.length,
  },
  "migrations complete",
);
